/* fcntl (POSIX record) locks from the shell, for fuse.sh's two-mount tests:
 *   lockctl hold FILE START LEN SECS   F_SETLKW a write lock on [START,
 *                                      START+LEN), print "held", sleep SECS
 *   lockctl wait FILE                  F_SETLKW a write lock on the whole
 *                                      file; print the milliseconds it took
 *   lockctl try FILE                   F_SETLK a write lock: exit 0 if taken,
 *                                      3 if EAGAIN/EACCES (held elsewhere)
 *   lockctl getlk FILE                 F_GETLK for a write lock on the whole
 *                                      file: print "unlocked" or
 *                                      "TYPE START LEN pid=PID"
 *   lockctl intr FILE MS               F_SETLKW with a SIGALRM after MS ms
 *                                      (no SA_RESTART): exit 0 if it fails
 *                                      with EINTR and print the ms waited */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

static void on_alarm(int sig)
{
	(void)sig;
}

static int usage(void)
{
	fprintf(stderr, "usage: lockctl hold FILE START LEN SECS | wait FILE | try FILE | "
			"getlk FILE | intr FILE MS\n");
	return 2;
}

int main(int argc, char **argv)
{
	if (argc < 3)
		return usage();
	const char *cmd = argv[1];
	int fd = open(argv[2], O_RDWR);
	if (fd < 0) {
		fprintf(stderr, "lockctl: open %s: %s\n", argv[2], strerror(errno));
		return 1;
	}
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
	long long t0 = now_ms();
	if (strcmp(cmd, "hold") == 0 && argc == 6) {
		fl.l_start = atoll(argv[3]);
		fl.l_len = atoll(argv[4]);
		if (fcntl(fd, F_SETLKW, &fl) < 0) {
			fprintf(stderr, "lockctl: F_SETLKW: %s\n", strerror(errno));
			return 1;
		}
		printf("held\n");
		fflush(stdout);
		sleep((unsigned)atoi(argv[5]));
		return 0;
	}
	if (strcmp(cmd, "wait") == 0 && argc == 3) {
		if (fcntl(fd, F_SETLKW, &fl) < 0) {
			fprintf(stderr, "lockctl: F_SETLKW: %s\n", strerror(errno));
			return 1;
		}
		printf("%lld\n", now_ms() - t0);
		return 0;
	}
	if (strcmp(cmd, "try") == 0 && argc == 3) {
		if (fcntl(fd, F_SETLK, &fl) == 0)
			return 0;
		if (errno == EAGAIN || errno == EACCES)
			return 3;
		fprintf(stderr, "lockctl: F_SETLK: %s\n", strerror(errno));
		return 1;
	}
	if (strcmp(cmd, "getlk") == 0 && argc == 3) {
		if (fcntl(fd, F_GETLK, &fl) < 0) {
			fprintf(stderr, "lockctl: F_GETLK: %s\n", strerror(errno));
			return 1;
		}
		if (fl.l_type == F_UNLCK)
			printf("unlocked\n");
		else
			printf("%s %lld %lld pid=%d\n", fl.l_type == F_WRLCK ? "write" : "read",
			       (long long)fl.l_start, (long long)fl.l_len, (int)fl.l_pid);
		return 0;
	}
	if (strcmp(cmd, "intr") == 0 && argc == 4) {
		struct sigaction sa = { .sa_handler = on_alarm };
		sigaction(SIGALRM, &sa, NULL);
		long ms = atol(argv[3]);
		struct itimerval it = { .it_value = { ms / 1000, (ms % 1000) * 1000 } };
		setitimer(ITIMER_REAL, &it, NULL);
		if (fcntl(fd, F_SETLKW, &fl) == 0) {
			fprintf(stderr, "lockctl: F_SETLKW took a lock it should have waited for\n");
			return 1;
		}
		if (errno != EINTR) {
			fprintf(stderr, "lockctl: F_SETLKW: %s, want EINTR\n", strerror(errno));
			return 1;
		}
		printf("%lld\n", now_ms() - t0);
		return 0;
	}
	return usage();
}
