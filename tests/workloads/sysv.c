/*
 * sysv: SysV shared memory, semaphores and message queues across a
 * checkpoint. Run it in an IPC namespace of its own (the keys are fixed).
 *
 *   sysv READY RESULT
 *
 * The root P and its children C1, C2 (C2 has a second thread T) hold:
 *   A  key 0x5A01, 3 pages, mode 0640, owner uid 4242: attached by P (and
 *      so, by fork, by C1 at the same address); C1 attaches it again with
 *      SHM_RDONLY elsewhere (C2 detaches all that fork gave it);
 *   B  key 0x5A02, 64 MiB, attached by nobody (P made it and wrote pages 0,
 *      100 and the last one, then detached it): sparse;
 *   R  IPC_PRIVATE, attached by P (and C1), then marked removed (IPC_RMID);
 *   L  key 0x5A04, 4 pages, locked (SHM_LOCK), attached by P (and C1) as 2
 *      mappings (its first page unmapped, the last one made read-only);
 *   S  key 0x5A05, 4 semaphores set to 3 0 100 7, then P takes 1 from #0,
 *      C1 adds 5 to #1 and takes 2 from #2, T adds 32000 to #3, all with
 *      SEM_UNDO: adjustments +1 (P), -5 and +2 (C1), -32000 (C2);
 *   M  key 0x5A06, mode 0620, qbytes 12000: messages (3,"alpha") (1,"")
 *      (7, 3000 bytes) (3,"beta");
 *   E  key 0x5A07: a message sent and taken again, empty.
 * After restore (SIGUSR1 to P) P checks every object's ids, keys, modes,
 * owners, sizes, contents and mappings, has C1 read what P wrote in A and
 * answer in it, reads M's messages in order, then ends C1 and C2 and checks
 * that their adjustments went back into S. P's own adjustment (+1 on #0)
 * shows once P has exited: S #0 is then 3 (the test script checks).
 */
#include "wl.h"
#include <fcntl.h>
#include <pthread.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/msg.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <sys/stat.h>
#include <sys/wait.h>

#define KA 0x5A01
#define KB 0x5A02
#define KL 0x5A04
#define KS 0x5A05
#define KM 0x5A06
#define KE 0x5A07
#define PG 4096
#define B_SIZE (64 << 20)
#define B_LAST (B_SIZE / PG - 1)

static int idA, idB, idR, idL, idS, idM, idE;
static char *A, *Aro, *R, *L;
static int cmd1[2], cmd2[2], rep[2];
static pid_t c1, c2;
static volatile int t_done;

static unsigned char pat(size_t i, int seed)
{
	return (unsigned char)(i * 7 + seed * 31 + (i >> 12));
}

static void fill(char *p, size_t len, int seed)
{
	for (size_t i = 0; i < len; i++)
		p[i] = (char)pat(i, seed);
}

/* Bytes [from, len) of p hold the pattern. */
static int same_from(const char *p, size_t from, size_t len, int seed, const char *what)
{
	for (size_t i = from; i < len; i++)
		if ((unsigned char)p[i] != pat(i, seed))
			return wl_fail("%s: byte %zu is 0x%02x, not 0x%02x", what, i, (unsigned char)p[i], pat(i, seed)), -1;
	return 0;
}

static int same(const char *p, size_t len, int seed, const char *what)
{
	return same_from(p, 0, len, seed, what);
}

/* The mapping of /proc/self/maps that starts at p: its permissions and inode. */
static int mapping_at(const void *p, char perms[5], unsigned long *ino)
{
	char line[512];
	FILE *f = fopen("/proc/self/maps", "r");
	int found = -1;

	while (f && fgets(line, sizeof(line), f)) {
		unsigned long s, e, off;
		char dev[16];

		if (sscanf(line, "%lx-%lx %4s %lx %15s %lu", &s, &e, perms, &off, dev, ino) == 6 && s == (unsigned long)p &&
		    strstr(line, "/SYSV")) {
			found = 0;
			break;
		}
	}
	if (f)
		fclose(f);
	return found;
}

static void check_mapping(const void *p, int id, const char *want_perms, const char *what)
{
	char perms[5] = "";
	unsigned long ino = 0;

	if (mapping_at(p, perms, &ino) < 0)
		wl_fail("%s: no SysV mapping at %p", what, p);
	else if ((int)ino != id || strcmp(perms, want_perms))
		wl_fail("%s: mapping at %p is %s of id %lu, want %s of id %d", what, p, perms, ino, want_perms, id);
}

static void check_shm(int id, int key, size_t size, unsigned mode, uid_t uid, unsigned long nattch, const char *what)
{
	struct shmid_ds ds;

	if (shmctl(id, IPC_STAT, &ds) < 0) {
		wl_fail("%s: IPC_STAT of id %d: %s", what, id, strerror(errno));
		return;
	}
	WL_CHECK(ds.shm_perm.__key == key, "%s: key 0x%x, want 0x%x", what, ds.shm_perm.__key, key);
	WL_CHECK(ds.shm_segsz == size, "%s: size %zu, want %zu", what, (size_t)ds.shm_segsz, size);
	WL_CHECK((ds.shm_perm.mode & 07777) == mode, "%s: mode 0%o, want 0%o", what, ds.shm_perm.mode & 07777, mode);
	WL_CHECK(ds.shm_perm.uid == uid, "%s: owner %u, want %u", what, ds.shm_perm.uid, uid);
	WL_CHECK(ds.shm_nattch == nattch, "%s: attached %lu times, want %lu", what, (unsigned long)ds.shm_nattch, nattch);
}

/* rss of a segment from /proc/sysvipc/shm. */
static long shm_rss(int id)
{
	char line[512];
	FILE *f = fopen("/proc/sysvipc/shm", "r");
	long rss = -1;

	while (f && fgets(line, sizeof(line), f)) {
		unsigned long long v[16];
		int key, sid;
		unsigned perms;

		if (sscanf(line, "%d %d %o %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu", &key, &sid,
			   &perms, &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7], &v[8], &v[9], &v[10], &v[11],
			   &v[12]) == 16 && sid == id)
			rss = (long)v[11];
	}
	if (f)
		fclose(f);
	return rss;
}

static int sem_adjust(int sem, int op)
{
	struct sembuf b = { (unsigned short)sem, (short)op, SEM_UNDO };

	return semop(idS, &b, 1);
}

static void *thread_t(void *arg)
{
	(void)arg;
	if (sem_adjust(3, 32000) < 0)
		exit(5);
	t_done = 1;
	for (;;)
		pause();
	return NULL;
}

/* Children: commands from P on a pipe, answers on rep. */
static void answer(const char *fmt, ...)
{
	char buf[300];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (write(rep[1], buf, strlen(buf) + 1) < 0)
		exit(6);
}

static void child_loop(int cmd, int idx)
{
	char c;

	while (read(cmd, &c, 1) == 1) {
		if (c == 'x')
			exit(0);
		if (c != 'c')
			continue;
		/* C1: A as P left it, P's note in it, our second mapping, and an answer. */
		wl_why[0] = 0;
		if (idx == 1) {
			check_mapping(A, idA, "rw-s", "C1 A");
			check_mapping(Aro, idA, "r--s", "C1 A read-only");
			same_from(A, 512, 3 * PG, 1, "C1 A contents");
			WL_CHECK(!strcmp(A, "ping from P"), "C1: A says '%.20s'", A);
			WL_CHECK(!strcmp(Aro, "ping from P"), "C1: A read-only says '%.20s'", Aro);
			strcpy(A + 256, "pong from C1");
		}
		answer("%s", wl_why[0] ? wl_why : "ok");
	}
	exit(7);
}

static pid_t start_child(int cmd[2], int idx)
{
	pid_t pid;

	if (pipe(cmd) < 0)
		return -1;
	pid = fork();
	if (pid != 0) {
		close(cmd[0]);
		return pid;
	}
	close(cmd[1]);
	if (idx == 1) {
		Aro = shmat(idA, NULL, SHM_RDONLY);
		if (Aro == (void *)-1 || sem_adjust(1, 5) < 0 || sem_adjust(2, -2) < 0)
			exit(3);
	} else {
		pthread_t t;

		/* C2 keeps no segment: it detaches what fork gave it. */
		if (shmdt(A) < 0 || shmdt(R) < 0 || shmdt(L) < 0 || pthread_create(&t, NULL, thread_t, NULL))
			exit(4);
		while (!t_done)
			wl_msleep(1);
	}
	answer("up");
	child_loop(cmd[0], idx);
	return 0;
}

static int wait_answer(char *buf, size_t len)
{
	size_t n = 0;

	while (n < len - 1 && read(rep[0], buf + n, 1) == 1)
		if (buf[n++] == 0)
			return 0;
	buf[n] = 0;
	return -1;
}

static int make_objects(void)
{
	struct shmid_ds ds;
	struct msqid_ds mq;
	unsigned short vals[4] = { 3, 0, 100, 7 };
	struct {
		long type;
		char text[3100];
	} m;

	idA = shmget(KA, 3 * PG, IPC_CREAT | IPC_EXCL | 0640);
	idB = shmget(KB, B_SIZE, IPC_CREAT | IPC_EXCL | 0600);
	idR = shmget(IPC_PRIVATE, 2 * PG, IPC_CREAT | 0600);
	idL = shmget(KL, 4 * PG, IPC_CREAT | IPC_EXCL | 0600);
	idS = semget(KS, 4, IPC_CREAT | IPC_EXCL | 0660);
	idM = msgget(KM, IPC_CREAT | IPC_EXCL | 0620);
	idE = msgget(KE, IPC_CREAT | IPC_EXCL | 0600);
	if (idA < 0 || idB < 0 || idR < 0 || idL < 0 || idS < 0 || idM < 0 || idE < 0)
		return wl_fail("making the objects: %s", strerror(errno)), -1;
	A = shmat(idA, NULL, 0);
	fill(A, 3 * PG, 1);
	shmctl(idA, IPC_STAT, &ds);
	ds.shm_perm.uid = 4242;
	shmctl(idA, IPC_SET, &ds);
	char *b = shmat(idB, NULL, 0);
	fill(b, PG, 2);
	fill(b + 100L * PG, PG, 3);
	fill(b + (long)B_LAST * PG, PG, 4);
	shmdt(b);
	R = shmat(idR, NULL, 0);
	fill(R, 2 * PG, 5);
	shmctl(idR, IPC_RMID, NULL);
	L = shmat(idL, NULL, 0);
	fill(L, 4 * PG, 6);
	shmctl(idL, SHM_LOCK, NULL);
	munmap(L, PG);
	mprotect(L + 3 * PG, PG, PROT_READ);
	if (semctl(idS, 0, SETALL, vals) < 0 || sem_adjust(0, -1) < 0)
		return wl_fail("semaphores: %s", strerror(errno)), -1;
	msgctl(idM, IPC_STAT, &mq);
	mq.msg_qbytes = 12000;
	msgctl(idM, IPC_SET, &mq);
	m.type = 3, strcpy(m.text, "alpha");
	msgsnd(idM, &m, 5, 0);
	m.type = 1;
	msgsnd(idM, &m, 0, 0);
	m.type = 7;
	fill(m.text, 3000, 7);
	msgsnd(idM, &m, 3000, 0);
	m.type = 3, strcpy(m.text, "beta");
	msgsnd(idM, &m, 4, 0);
	m.type = 9;
	if (msgsnd(idE, &m, 10, 0) < 0 || msgrcv(idE, &m, sizeof(m.text), 0, 0) != 10)
		return wl_fail("queue E: %s", strerror(errno)), -1;
	return 0;
}

static void check_messages(void)
{
	static const struct {
		long type;
		size_t len;
		const char *text;
	} want[] = { { 3, 5, "alpha" }, { 1, 0, "" }, { 7, 3000, NULL }, { 3, 4, "beta" } };
	struct msqid_ds ds;
	struct {
		long type;
		char text[3100];
	} m;

	if (msgctl(idM, IPC_STAT, &ds) < 0) {
		wl_fail("M: IPC_STAT: %s", strerror(errno));
		return;
	}
	WL_CHECK(ds.msg_perm.__key == KM && (ds.msg_perm.mode & 0777) == 0620 && ds.msg_qbytes == 12000 &&
			 ds.msg_qnum == 4,
		 "M: key 0x%x mode 0%o qbytes %lu qnum %lu", ds.msg_perm.__key, ds.msg_perm.mode, (unsigned long)ds.msg_qbytes,
		 (unsigned long)ds.msg_qnum);
	for (size_t i = 0; i < 4; i++) {
		ssize_t n = msgrcv(idM, &m, sizeof(m.text), 0, IPC_NOWAIT);

		if (n != (ssize_t)want[i].len || m.type != want[i].type) {
			wl_fail("M: message %zu is type %ld, %zd bytes; want %ld, %zu", i, m.type, n, want[i].type, want[i].len);
			return;
		}
		if (want[i].text ? memcmp(m.text, want[i].text, want[i].len) != 0 : same(m.text, 3000, 7, "M message") < 0)
			wl_fail("M: message %zu differs", i);
	}
	WL_CHECK(msgrcv(idM, &m, sizeof(m.text), 0, IPC_NOWAIT) < 0 && errno == ENOMSG, "M: more messages than sent");
	WL_CHECK(msgget(KE, 0) == idE && msgctl(idE, IPC_STAT, &ds) == 0 && ds.msg_qnum == 0, "E: not there, or not empty");
}

static void check_sems(const unsigned short *want, const char *when)
{
	unsigned short v[4];

	if (semctl(idS, 0, GETALL, v) < 0) {
		wl_fail("S: GETALL: %s", strerror(errno));
		return;
	}
	for (int i = 0; i < 4; i++)
		WL_CHECK(v[i] == want[i], "S %s: semaphore %d is %u, want %u", when, i, v[i], want[i]);
}

static void check_segments(void)
{
	char buf[300];
	struct shmid_ds ds;
	long rss = shm_rss(idB);

	check_shm(idA, KA, 3 * PG, 0640, 4242, 3, "A");
	check_mapping(A, idA, "rw-s", "P A");
	same(A, 3 * PG, 1, "P A contents");
	/* B: only its 3 saved pages exist; the rest was never made. */
	WL_CHECK(rss >= 0 && rss <= 3 * PG, "B: %ld bytes resident, want at most 3 pages", rss);
	check_shm(idB, KB, B_SIZE, 0600, 0, 0, "B");
	char *b = shmat(idB, NULL, SHM_RDONLY);
	if (b != (void *)-1) {
		same(b, PG, 2, "B page 0");
		same(b + 100L * PG, PG, 3, "B page 100");
		same(b + (long)B_LAST * PG, PG, 4, "B last page");
		WL_CHECK(b[PG] == 0 && b[50L * PG + 7] == 0 && b[(long)(B_LAST - 1) * PG] == 0, "B: holes are not zero");
		shmdt(b);
	}
	/* R: removed, still ours. */
	WL_CHECK(shmctl(idR, IPC_STAT, &ds) == 0 && (ds.shm_perm.mode & SHM_DEST) && ds.shm_perm.__key == 0 &&
			 ds.shm_nattch == 2,
		 "R: not a removed segment attached twice (mode 0%o key 0x%x)", ds.shm_perm.mode, ds.shm_perm.__key);
	check_mapping(R, idR, "rw-s", "R");
	same(R, 2 * PG, 5, "R contents");
	/* L: locked, attached as two mappings now, one page gone. */
	WL_CHECK(shmctl(idL, IPC_STAT, &ds) == 0 && (ds.shm_perm.mode & SHM_LOCKED) && ds.shm_nattch == 4,
		 "L: not locked and mapped 4 times (mode 0%o, %lu)", ds.shm_perm.mode, (unsigned long)ds.shm_nattch);
	check_mapping(L + PG, idL, "rw-s", "L pages 1-2");
	check_mapping(L + 3 * PG, idL, "r--s", "L page 3");
	for (int i = 1; i < 4; i++)
		WL_CHECK((unsigned char)L[i * PG + 9] == pat((size_t)i * PG + 9, 6), "L page %d differs", i);
	/* Writes of one process are seen by the other. */
	strcpy(A, "ping from P");
	if (write(cmd1[1], "c", 1) != 1 || wait_answer(buf, sizeof(buf)) < 0)
		wl_fail("C1 does not answer");
	else if (strcmp(buf, "ok"))
		wl_fail("%s", buf);
	WL_CHECK(!strcmp(A + 256, "pong from C1"), "P: C1's answer in A is '%.20s'", A + 256);
}

int main(int argc, char **argv)
{
	static const unsigned short before[4] = { 2, 5, 98, 32007 }, after[4] = { 2, 0, 100, 7 };
	char buf[300];
	int st;

	wl_init(argc, argv);
	if (pipe(rep) < 0 || make_objects() < 0) {
		wl_ready();
		return wl_finish();
	}
	c1 = start_child(cmd1, 1);
	if (wait_answer(buf, sizeof(buf)) < 0 || strcmp(buf, "up"))
		wl_fail("C1 did not start: %s", buf);
	c2 = start_child(cmd2, 2);
	if (wait_answer(buf, sizeof(buf)) < 0 || strcmp(buf, "up"))
		wl_fail("C2 did not start: %s", buf);
	check_sems(before, "at start");
	wl_ready();
	wl_wait();

	check_segments();
	check_messages();
	check_sems(before, "after restore");
	/* The children's adjustments go back into the set when they end. */
	if (write(cmd1[1], "x", 1) != 1 || write(cmd2[1], "x", 1) != 1)
		wl_fail("cannot end the children");
	WL_CHECK(waitpid(c1, &st, 0) == c1 && WIFEXITED(st) && WEXITSTATUS(st) == 0, "C1 ended with 0x%x", st);
	WL_CHECK(waitpid(c2, &st, 0) == c2 && WIFEXITED(st) && WEXITSTATUS(st) == 0, "C2 ended with 0x%x", st);
	check_sems(after, "once the children ended");
	return wl_finish();
}
