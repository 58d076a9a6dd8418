# eventfd counters (also EFD_SEMAPHORE), epolls watching pipes, eventfds and
# another epoll, and a thread blocked in epoll_wait.
start_workload epoll
cycle || fail "checkpoint/restore cycle"
verify || fail "epoll after restore"
