/*
 * The step channel: the sandbox's main process (PID 1). It reads requests on stdin and answers on stdout.
 * Each command runs in a fresh `/bin/sh -c` of its own, in /workspace, in a new session; output is kept
 * head and tail, so a flood of output costs bounded memory. Written in C and linked statically because every
 * system call under gVisor's ptrace platform is expensive: this keeps a step close to the cost of one spawn.
 *
 * Requests (a header line, then the byte payloads it announces):
 *   PING id [secret]                                     the first secret given is kept (see reset())
 *   RUN id timeout_ms max_output command_len stdin_len  + command + stdin
 *   READ id max_bytes path_len                           + path
 *   WRITE id path_len data_len                           + path + data
 *   RESET id next_secret       (makes the sandbox as it started, for the same tenant's next mission; see reset())
 * Replies:
 *   OK id
 *   ERR id message_len                                   + message
 *   DONE id exit_code timed_out signal stdout_bytes stderr_bytes duration_us stdout_len stderr_len + stdout + stderr
 *   DATA id file_bytes data_len                          + data
 *   WIPED id secret                                      the reset is done and verified; the secret it replaced
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <stddef.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/msg.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define WORKSPACE "/workspace"
#define MAX_PAYLOAD (64u << 20)

extern char **environ;
static int sigchld_pipe[2];
static int dev_null; /* stdin of steps that get none; opened once, every system call counts */

static long long now_us(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1000000LL + t.tv_nsec / 1000;
}

static void on_sigchld(int sig) {
  (void)sig;
  int saved = errno;
  char byte = 0;
  if (write(sigchld_pipe[1], &byte, 1) < 0) { /* the pipe is full: a wake-up is already pending */ }
  errno = saved;
}

/* ---- stdin: a header line, then exact payloads ---- */

static char in_buf[1 << 16];
static size_t in_pos, in_len;

static int fill_input(void) {
  if (in_pos == in_len) in_pos = in_len = 0;
  ssize_t n;
  do n = read(0, in_buf + in_len, sizeof in_buf - in_len); while (n < 0 && errno == EINTR);
  if (n <= 0) exit(0); /* the host closed the channel: nothing left to do */
  in_len += (size_t)n;
  return 0;
}

static void read_line(char *line, size_t cap) {
  size_t used = 0;
  for (;;) {
    while (in_pos < in_len) {
      char c = in_buf[in_pos++];
      if (c == '\n') { line[used] = 0; return; }
      if (used + 1 < cap) line[used++] = c;
    }
    fill_input();
  }
}

static char *read_payload(size_t n) {
  char *data = malloc(n + 1);
  if (!data) exit(3);
  size_t got = 0;
  while (got < n) {
    if (in_pos == in_len) fill_input();
    size_t take = in_len - in_pos < n - got ? in_len - in_pos : n - got;
    memcpy(data + got, in_buf + in_pos, take);
    in_pos += take;
    got += take;
  }
  data[n] = 0;
  return data;
}

/* ---- stdout: replies ---- */

static void write_all(const void *data, size_t n) {
  const char *p = data;
  while (n > 0) {
    ssize_t w = write(1, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) exit(0);
    p += w;
    n -= (size_t)w;
  }
}

/* A header and two payloads in one system call when the pipe takes them whole (it nearly always does). */
static void write_reply(const char *header, size_t header_len, const char *a, size_t a_len, const char *b, size_t b_len) {
  struct iovec parts[3] = {{(void *)header, header_len}, {(void *)a, a_len}, {(void *)b, b_len}};
  ssize_t written;
  do written = writev(1, parts, 3); while (written < 0 && errno == EINTR);
  if (written < 0) exit(0);
  size_t skip = (size_t)written;
  for (int i = 0; i < 3; i++) {
    size_t done = skip < parts[i].iov_len ? skip : parts[i].iov_len;
    skip -= done;
    write_all((const char *)parts[i].iov_base + done, parts[i].iov_len - done);
  }
}

static void reply_error(unsigned long id, const char *format, ...) {
  char message[512], header[64];
  va_list args;
  va_start(args, format);
  vsnprintf(message, sizeof message, format, args);
  va_end(args);
  int n = snprintf(header, sizeof header, "ERR %lu %zu\n", id, strlen(message));
  write_all(header, (size_t)n);
  write_all(message, strlen(message));
}

/* ---- output capture: the first and last `half` bytes, and a count of all ---- */

struct capture {
  size_t half, head_len, tail_len;
  unsigned long long total;
  char *head, *tail; /* tail holds up to 2 * half bytes; its last `half` are the ones kept */
};

static void capture_init(struct capture *c, size_t limit) {
  c->half = limit / 2 ? limit / 2 : 1;
  c->head_len = c->tail_len = 0;
  c->total = 0;
  c->head = malloc(c->half);
  c->tail = malloc(2 * c->half);
  if (!c->head || !c->tail) exit(3);
}

static void capture_add(struct capture *c, const char *data, size_t n) {
  c->total += n;
  size_t room = c->half - c->head_len, take = n < room ? n : room;
  memcpy(c->head + c->head_len, data, take);
  c->head_len += take;
  data += take;
  n -= take;
  if (n == 0) return;
  if (n >= c->half) {
    memcpy(c->tail, data + n - c->half, c->half);
    c->tail_len = c->half;
    return;
  }
  if (c->tail_len + n > 2 * c->half) {
    size_t keep = c->tail_len < c->half ? c->tail_len : c->half;
    memmove(c->tail, c->tail + c->tail_len - keep, keep);
    c->tail_len = keep;
  }
  memcpy(c->tail + c->tail_len, data, n);
  c->tail_len += n;
}

static int utf8_continuation(char byte) { return ((unsigned char)byte & 0xc0) == 0x80; }

/* The length of `text` without a UTF-8 character cut off at its end (by the head's limit). */
static size_t whole_characters(const char *text, size_t len) {
  size_t lead = len;
  while (lead > 0 && len - lead < 3 && utf8_continuation(text[lead - 1])) lead--;
  if (lead == 0) return len;
  unsigned char byte = (unsigned char)text[lead - 1];
  size_t width = byte >= 0xf0 ? 4 : byte >= 0xe0 ? 3 : byte >= 0xc0 ? 2 : 1;
  return len - (lead - 1) < width ? lead - 1 : len;
}

/*
 * Renders head, a marker for what was dropped, and tail. Both cuts fall between UTF-8 characters, so text
 * output stays valid text. Returns a malloc'd buffer of *len bytes.
 */
static char *capture_render(struct capture *c, size_t *len) {
  size_t tail_kept = c->tail_len < c->half ? c->tail_len : c->half;
  const char *tail = c->tail + c->tail_len - tail_kept;
  size_t head_len = c->head_len;
  if (c->total > c->head_len + tail_kept) {
    head_len = whole_characters(c->head, c->head_len);
    for (int skipped = 0; skipped < 3 && tail_kept > 0 && utf8_continuation(*tail); skipped++) tail++, tail_kept--;
  }
  unsigned long long omitted = c->total - head_len - tail_kept;
  char marker[64] = "";
  if (omitted > 0) snprintf(marker, sizeof marker, "\n[... %llu bytes omitted ...]\n", omitted);
  *len = head_len + strlen(marker) + tail_kept;
  char *out = malloc(*len + 1);
  if (!out) exit(3);
  memcpy(out, c->head, head_len);
  memcpy(out + head_len, marker, strlen(marker));
  memcpy(out + head_len + strlen(marker), tail, tail_kept);
  free(c->head);
  free(c->tail);
  return out;
}

/* ---- RUN ---- */

/* After a timeout nothing of the step may survive: kill(-1) reaches every process but PID 1 (us). */
static void kill_everything_else(void) {
  kill(-1, SIGKILL);
  long long until = now_us() + 2000000;
  while (now_us() < until) {
    pid_t pid = waitpid(-1, NULL, WNOHANG);
    if (pid < 0 && errno == ECHILD) return;
    if (pid == 0) usleep(1000);
  }
}

static void reap_orphans(void) {
  while (waitpid(-1, NULL, WNOHANG) > 0) {}
}

/* Reads what a non-blocking pipe holds now. Returns 1 at end of file or on error, 0 when it would block. */
static int drain(int fd, struct capture *capture, char *chunk, size_t size) {
  for (;;) {
    ssize_t n = read(fd, chunk, size);
    if (n > 0) capture_add(capture, chunk, (size_t)n);
    else if (n < 0 && errno == EINTR) continue;
    else return !(n < 0 && errno == EAGAIN);
  }
}

/* ---- what a step may not do: create state that would outlive its processes ---- */

#if defined(__x86_64__)
#define OWN_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define OWN_ARCH AUDIT_ARCH_AARCH64
#else
#error "the step filter knows x86_64 and aarch64"
#endif
#define DENY(nr) BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (nr), 0, 1), BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM)

/*
 * SysV IPC objects, POSIX message queues and keys live in the sandbox's kernel, not in a process or a file:
 * killing every process and emptying the writable directories would not remove them, so a step cannot make
 * any. Another architecture's system calls (x32, i386) are refused whole, so none of these slips past by number.
 * The channel installs the filter on itself once, at start (it makes none of these calls), and every step
 * inherits it: two more system calls in each spawn cost a step ~1.5 ms under gVisor's ptrace platform.
 */
static struct sock_filter step_rules[] = {
  BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
  BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, OWN_ARCH, 1, 0),
  BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
  BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
#if defined(__x86_64__)
  BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, 0x40000000, 0, 1), /* the x32 ABI */
  BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
#endif
  DENY(__NR_shmget), DENY(__NR_semget), DENY(__NR_msgget), DENY(__NR_mq_open),
  DENY(__NR_add_key), DENY(__NR_request_key), DENY(__NR_keyctl),
  BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
};
static struct sock_fprog step_filter = {sizeof step_rules / sizeof step_rules[0], step_rules};

/*
 * vfork and a handful of calls, not posix_spawn: glibc's posix_spawn resets all 64 signal dispositions in the
 * child, one system call each, which under gVisor's ptrace platform costs more than the shell itself.
 */
static pid_t spawn_shell(char *command, int in_fd, int out_fd, int err_fd) {
  char *argv[] = {"sh", "-c", command, NULL};
  sigset_t all, previous;
  sigfillset(&all);
  sigprocmask(SIG_SETMASK, &all, &previous);
  pid_t pid = vfork();
  if (pid == 0) {
    setsid();
    dup2(in_fd, 0);
    dup2(out_fd, 1);
    dup2(err_fd, 2);
    if (chdir(WORKSPACE) == 0) {
      signal(SIGPIPE, SIG_DFL);
      sigprocmask(SIG_SETMASK, &previous, NULL);
      execve("/bin/sh", argv, environ);
    }
    _exit(127);
  }
  sigprocmask(SIG_SETMASK, &previous, NULL);
  return pid;
}

static void run_command(unsigned long id, long timeout_ms, size_t max_output, char *command, char *input, size_t input_len) {
  int out[2], err[2], in[2] = {-1, -1};
  if (pipe2(out, O_CLOEXEC) || pipe2(err, O_CLOEXEC)) return reply_error(id, "pipe: %s", strerror(errno));
  if (input_len > 0 && pipe2(in, O_CLOEXEC)) {
    close(out[0]), close(out[1]), close(err[0]), close(err[1]);
    return reply_error(id, "stdin: %s", strerror(errno));
  }

  long long started = now_us();
  pid_t pid = spawn_shell(command, input_len > 0 ? in[0] : dev_null, out[1], err[1]);
  close(out[1]);
  close(err[1]);
  if (input_len > 0) close(in[0]);
  if (pid < 0) {
    int saved = errno;
    close(out[0]), close(err[0]);
    if (in[1] >= 0) close(in[1]);
    return reply_error(id, "could not start the shell: %s", strerror(saved));
  }

  struct capture captures[2];
  capture_init(&captures[0], max_output);
  capture_init(&captures[1], max_output);
  int fds[2] = {out[0], err[0]}, in_fd = in[1], status = 0, exited = 0, timed_out = 0;
  size_t input_sent = 0;
  if (in_fd >= 0) fcntl(in_fd, F_SETFL, O_NONBLOCK);
  long long deadline = started + timeout_ms * 1000LL;
  char chunk[65536];

  for (int i = 0; i < 2; i++) fcntl(fds[i], F_SETFL, O_NONBLOCK);
  while (!exited) {
    long long left_us = deadline - now_us();
    if (left_us <= 0) { timed_out = 1; break; }
    struct pollfd polled[4];
    int count = 0, slot_out = -1, slot_err = -1, slot_in = -1;
    polled[count++] = (struct pollfd){.fd = sigchld_pipe[0], .events = POLLIN};
    if (fds[0] >= 0) slot_out = count, polled[count++] = (struct pollfd){.fd = fds[0], .events = POLLIN};
    if (fds[1] >= 0) slot_err = count, polled[count++] = (struct pollfd){.fd = fds[1], .events = POLLIN};
    if (in_fd >= 0) slot_in = count, polled[count++] = (struct pollfd){.fd = in_fd, .events = POLLOUT};
    if (poll(polled, (nfds_t)count, (int)((left_us + 999) / 1000)) < 0) continue;
    if (polled[0].revents) {
      while (read(sigchld_pipe[0], chunk, sizeof chunk) > 0) {}
      exited = waitpid(pid, &status, WNOHANG) == pid;
    }
    int slots[2] = {slot_out, slot_err};
    for (int i = 0; i < 2; i++) {
      if (slots[i] >= 0 && polled[slots[i]].revents && drain(fds[i], &captures[i], chunk, sizeof chunk)) close(fds[i]), fds[i] = -1;
    }
    if (slot_in >= 0 && polled[slot_in].revents) {
      ssize_t n = polled[slot_in].revents & POLLOUT ? write(in_fd, input + input_sent, input_len - input_sent) : -1;
      if (n > 0) input_sent += (size_t)n;
      if ((n < 0 && errno != EAGAIN && errno != EINTR) || n == 0 || input_sent == input_len) close(in_fd), in_fd = -1;
    }
  }
  /*
   * The shell has exited: take what its pipes hold and stop. A background process that still holds them
   * may write more later; that is no longer this step's output.
   */
  for (int i = 0; i < 2; i++) if (fds[i] >= 0) drain(fds[i], &captures[i], chunk, sizeof chunk);

  if (timed_out) kill_everything_else();
  if (!exited) waitpid(pid, &status, 0);
  for (int i = 0; i < 2; i++) if (fds[i] >= 0) close(fds[i]);
  if (in_fd >= 0) close(in_fd);
  reap_orphans();

  int signal_number = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
  int exit_code = timed_out ? 124 : signal_number ? 128 + signal_number : WEXITSTATUS(status);
  size_t out_len, err_len;
  char *out_text = capture_render(&captures[0], &out_len), *err_text = capture_render(&captures[1], &err_len);
  char header[256];
  int n = snprintf(header, sizeof header, "DONE %lu %d %d %d %llu %llu %lld %zu %zu\n", id, exit_code, timed_out,
                   timed_out ? 0 : signal_number, captures[0].total, captures[1].total, now_us() - started, out_len, err_len);
  write_reply(header, (size_t)n, out_text, out_len, err_text, err_len);
  free(out_text);
  free(err_text);
}

/* ---- READ and WRITE: confined to /workspace, never following a symbolic link ---- */

/*
 * openat that never follows a symbolic link, not even in the last component with O_DIRECTORY (which this
 * gVisor build follows despite O_NOFOLLOW): the name is checked with lstat first and the opened file must be
 * the one checked. A new file is created with O_EXCL, which refuses an existing name of any kind.
 */
static int open_below(int dir, const char *name, int flags) {
  struct stat named, opened;
  if (fstatat(dir, name, &named, AT_SYMLINK_NOFOLLOW)) {
    if (errno == ENOENT && (flags & O_CREAT)) return openat(dir, name, flags | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
    return -1;
  }
  if (S_ISLNK(named.st_mode)) return errno = ELOOP, -1;
  /* A FIFO would block the channel until someone opened its other end, a device could do worse: file tools take
     regular files and directories only, and open without blocking in case the name changed since the check. */
  if (!S_ISREG(named.st_mode) && !S_ISDIR(named.st_mode)) return errno = EINVAL, -1;
  int fd = openat(dir, name, (flags & ~O_CREAT) | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
  if (fd >= 0 && (fstat(fd, &opened) || opened.st_ino != named.st_ino || opened.st_dev != named.st_dev)) {
    close(fd);
    return errno = ELOOP, -1;
  }
  return fd;
}

/*
 * Opens the directory that holds `path` (relative to /workspace), component by component with open_below,
 * creating missing directories when `create` is set. Sets *name to the last component. Returns a dirfd or -1.
 */
static int open_parent(char *path, int create, char **name) {
  int dir = open(WORKSPACE, O_DIRECTORY | O_RDONLY | O_CLOEXEC);
  char *part = path, *slash;
  while (dir >= 0 && (slash = strchr(part, '/'))) {
    *slash = 0;
    if (*part) {
      if (create) mkdirat(dir, part, 0755);
      int next = open_below(dir, part, O_DIRECTORY | O_RDONLY);
      int saved = errno;
      close(dir);
      dir = next;
      errno = saved;
    }
    part = slash + 1;
  }
  *name = part;
  return dir;
}

static const char *describe(int error) {
  if (error == ELOOP) return "it passes through a symbolic link, which file tools do not follow";
  if (error == EINVAL) return "it is not a regular file (a FIFO, a socket or a device)";
  return strerror(error);
}

/* The host checks paths too; this is the last word: relative, no "." or ".." components, no empty name. */
static int confined(unsigned long id, const char *path) {
  const char *part = path;
  int ok = *path && path[0] != '/';
  while (ok) {
    size_t len = strcspn(part, "/");
    ok = len > 0 && !(len == 1 && part[0] == '.') && !(len == 2 && part[0] == '.' && part[1] == '.');
    if (!part[len]) break;
    part += len + 1;
  }
  if (!ok) reply_error(id, "the path must be relative to /workspace and stay inside it");
  return ok;
}

static void write_file(unsigned long id, char *path, const char *data, size_t len) {
  if (!confined(id, path)) return;
  char *name;
  int dir = open_parent(path, 1, &name);
  int fd = dir < 0 ? -1 : open_below(dir, name, O_WRONLY | O_CREAT | O_TRUNC);
  int saved = errno;
  if (dir >= 0) close(dir);
  if (fd < 0) return reply_error(id, "cannot write %s: %s", path, describe(saved));
  for (size_t done = 0; done < len;) {
    ssize_t n = write(fd, data + done, len - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      saved = errno;
      close(fd);
      return reply_error(id, "cannot write %s: %s", path, strerror(saved));
    }
    done += (size_t)n;
  }
  if (close(fd)) return reply_error(id, "cannot write %s: %s", path, strerror(errno));
  char header[64];
  int n = snprintf(header, sizeof header, "OK %lu\n", id);
  write_all(header, (size_t)n);
}

static void read_file(unsigned long id, char *path, size_t max_bytes) {
  if (!confined(id, path)) return;
  char *name;
  int dir = open_parent(path, 0, &name);
  int fd = dir < 0 ? -1 : open_below(dir, name, O_RDONLY);
  int saved = errno;
  if (dir >= 0) close(dir);
  struct stat info;
  if (fd < 0) return reply_error(id, "cannot read %s: %s", path, describe(saved));
  if (fstat(fd, &info) || !S_ISREG(info.st_mode)) {
    close(fd);
    return reply_error(id, "cannot read %s: not a regular file", path);
  }
  char *data = malloc(max_bytes + 1);
  if (!data) exit(3);
  size_t got = 0;
  ssize_t n;
  while (got < max_bytes && ((n = read(fd, data + got, max_bytes - got)) > 0 || (n < 0 && errno == EINTR))) {
    if (n > 0) got += (size_t)n;
  }
  close(fd);
  char header[96];
  int len = snprintf(header, sizeof header, "DATA %lu %lld %zu\n", id, (long long)info.st_size, got);
  write_all(header, (size_t)len);
  write_all(data, got);
  free(data);
}

/* ---- RESET: the sandbox as it started, before the same tenant's next mission ---- */

#define SCRATCH_DEPTH 64
static const char *const scratch_dirs[] = {WORKSPACE, "/tmp", "/dev/shm"};
#define SECRET_LEN 64
static struct rlimit started_limits[RLIM_NLIMITS];
static char secret[SECRET_LEN + 1];
static int started_priority;

union semun { int val; struct semid_ds *buf; unsigned short *array; struct seminfo *__buf; };

/* Kills every process but this one and reaps them all: orphans are ours, as PID 1. */
static int only_channel_left(void) {
  char chunk[256];
  kill(-1, SIGKILL);
  long long until = now_us() + 2000000;
  for (;;) {
    pid_t pid = waitpid(-1, NULL, WNOHANG);
    if (pid < 0 && errno == ECHILD) break;
    if (now_us() > until) return 0;
    if (pid == 0) usleep(500);
  }
  while (read(sigchld_pipe[0], chunk, sizeof chunk) > 0) {}
  DIR *proc = opendir("/proc");
  if (!proc) return 0;
  int alone = 1;
  struct dirent *entry;
  while ((entry = readdir(proc))) {
    char *end;
    long pid = strtol(entry->d_name, &end, 10);
    if (!*end && pid > 0 && pid != getpid()) alone = 0;
  }
  closedir(proc);
  return alone;
}

/*
 * Removes everything inside `dir`, never following a symbolic link: a link is removed as itself, a directory
 * the mission made read-only is made writable first. Returns 0 when the directory is empty after.
 */
static int empty_directory(int dir, int depth) {
  if (depth > SCRATCH_DEPTH) return -1;
  int listed = dup(dir);
  DIR *entries = listed < 0 ? NULL : fdopendir(listed);
  if (!entries) return -1;
  int left = 0;
  struct dirent *entry;
  while ((entry = readdir(entries))) {
    const char *name = entry->d_name;
    if (!strcmp(name, ".") || !strcmp(name, "..")) continue;
    struct stat info;
    if (fstatat(dir, name, &info, AT_SYMLINK_NOFOLLOW)) { left = 1; continue; }
    if (S_ISDIR(info.st_mode)) {
      fchmodat(dir, name, 0700, 0);
      int below = open_below(dir, name, O_DIRECTORY | O_RDONLY);
      if (below < 0 || empty_directory(below, depth + 1)) left = 1;
      if (below >= 0) close(below);
      if (unlinkat(dir, name, AT_REMOVEDIR)) left = 1;
    } else if (unlinkat(dir, name, 0)) {
      left = 1;
    }
  }
  rewinddir(entries);
  while ((entry = readdir(entries))) if (strcmp(entry->d_name, ".") && strcmp(entry->d_name, "..")) left = 1;
  closedir(entries);
  return left ? -1 : 0;
}

static int scratch_empty(void) {
  for (size_t i = 0; i < sizeof scratch_dirs / sizeof scratch_dirs[0]; i++) {
    int dir = open(scratch_dirs[i], O_DIRECTORY | O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    int emptied = dir >= 0 && empty_directory(dir, 0) == 0;
    if (dir >= 0) close(dir);
    if (!emptied) return 0;
  }
  return chmod(WORKSPACE, 0700) == 0;
}

/* No SysV IPC object exists: steps cannot make one (step_rules), and this checks that nothing slipped past. */
static int no_ipc_objects(void) {
  struct shm_info shm;
  struct msginfo msg;
  struct seminfo sem;
  union semun sem_arg = {.__buf = &sem};
  return shmctl(0, SHM_INFO, (struct shmid_ds *)&shm) >= 0 && shm.used_ids == 0 &&
         msgctl(0, MSG_INFO, (struct msqid_ds *)&msg) >= 0 && msg.msgpool == 0 &&
         semctl(0, 0, SEM_INFO, sem_arg) >= 0 && sem.semusz == 0;
}

/*
 * A step runs as our user, so it may lower this process's limits or priority, which the next mission's steps
 * would inherit. Soft limits are put back; a lowered hard limit or priority cannot be, and fails the reset.
 */
static int limits_as_started(void) {
  for (int resource = 0; resource < RLIM_NLIMITS; resource++) {
    struct rlimit now;
    if (getrlimit(resource, &now) || now.rlim_max != started_limits[resource].rlim_max) return 0;
    if (now.rlim_cur != started_limits[resource].rlim_cur && setrlimit(resource, &started_limits[resource])) return 0;
  }
  errno = 0;
  int priority = getpriority(PRIO_PROCESS, 0);
  return errno == 0 && priority == started_priority;
}

static void remember_start(void) {
  for (int resource = 0; resource < RLIM_NLIMITS; resource++) getrlimit(resource, &started_limits[resource]);
  started_priority = getpriority(PRIO_PROCESS, 0);
}

/*
 * Every process of the last mission killed and reaped, everything under /workspace, /tmp and /dev/shm removed,
 * and each checked, with the IPC objects and this process's limits. A sandbox that cannot be made as it started
 * serves nobody again: the channel answers why, and exits.
 *
 * A step's processes can open /proc/1/fd under gVisor (it runs as our user) and so read our requests or write
 * replies of their own. So the answer proves the reset ran: it tells the secret only this process knew (given by
 * the host before any step ran, or with the last reset) and keeps the one this request brings. A process that
 * took the request instead of us learns the next secret, not this one, and cannot answer; it dies with the reset
 * when we get the request. The host takes no reply it did not ask for (sandbox/channel.ts).
 */
static void reset(unsigned long id, const char *next) {
  const char *failed = !*secret ? "no secret was given" : !only_channel_left() ? "a process survived"
                     : !scratch_empty() ? "files survived" : !no_ipc_objects() ? "an IPC object exists"
                     : !limits_as_started() ? "limits were changed" : NULL;
  if (failed) {
    reply_error(id, "the reset failed: %s", failed);
    exit(5);
  }
  char header[96 + SECRET_LEN];
  int n = snprintf(header, sizeof header, "WIPED %lu %s\n", id, secret);
  snprintf(secret, sizeof secret, "%s", next);
  write_all(header, (size_t)n);
}

int main(void) {
  if (pipe2(sigchld_pipe, O_CLOEXEC | O_NONBLOCK)) return 2;
  if ((dev_null = open("/dev/null", O_RDONLY | O_CLOEXEC)) < 0) return 2;
  /* Not dumpable: on a Linux kernel (Kata) a step cannot open /proc/1/fd. gVisor lets it; reset() allows for that. */
  if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)) return 2;
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) || prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &step_filter)) return 2;
  remember_start();
  struct sigaction action = {.sa_handler = on_sigchld, .sa_flags = SA_RESTART | SA_NOCLDSTOP};
  sigaction(SIGCHLD, &action, NULL);
  signal(SIGPIPE, SIG_IGN);
  char line[512], verb[8], token[SECRET_LEN + 1];
  for (;;) {
    read_line(line, sizeof line);
    unsigned long id = 0, a = 0, b = 0, c = 0, d = 0;
    int fields = sscanf(line, "%7s %lu %lu %lu %lu %lu", verb, &id, &a, &b, &c, &d);
    if (fields >= 2 && !strcmp(verb, "PING")) {
      if (!*secret && sscanf(line, "PING %*u %64[0-9a-f]", token) == 1) strcpy(secret, token);
      char header[64];
      int n = snprintf(header, sizeof header, "OK %lu\n", id);
      write_all(header, (size_t)n);
    } else if (fields == 6 && !strcmp(verb, "RUN") && c <= MAX_PAYLOAD && d <= MAX_PAYLOAD) {
      char *command = read_payload(c), *input = read_payload(d);
      run_command(id, (long)a, b, command, input, d);
      free(command);
      free(input);
    } else if (fields == 4 && !strcmp(verb, "READ") && a <= MAX_PAYLOAD && b <= MAX_PAYLOAD) {
      char *path = read_payload(b);
      read_file(id, path, a);
      free(path);
    } else if (fields == 4 && !strcmp(verb, "WRITE") && a <= MAX_PAYLOAD && b <= MAX_PAYLOAD) {
      char *path = read_payload(a), *data = read_payload(b);
      write_file(id, path, data, b);
      free(path);
      free(data);
    } else if (!strcmp(verb, "RESET") && sscanf(line, "RESET %lu %64[0-9a-f]", &id, token) == 2) {
      reset(id, token);
    } else {
      return 4; /* a garbled request: the host sees the channel end and replaces the sandbox */
    }
  }
}
