# Sharing that ckpt cannot make again is refused by the dump, which leaves
# the tree running as it was: a thread made without CLONE_FILES or without
# CLONE_FS (the restorer makes threads with both), and two processes that
# share an fd table while neither is the other's parent or sibling and
# their parents do not share it (ckpt could only clone one from the other).
start_workload sharebad thread-files
expect_dump_refused "tid [0-9]+: the thread has its own fd table"
start_workload sharebad thread-fs
expect_dump_refused "tid [0-9]+: the thread has its own cwd, root and umask \(fs\)"
start_workload sharebad cousins
expect_dump_refused "pid [0-9]+ shares its fd table with pid [0-9]+, which is neither its parent nor its sibling"
