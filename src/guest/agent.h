/* thaw-agent: the guest side. It is PID 1 of every VM (stage 1 in the
 * initramfs mounts the root disk, stage 2 sets up the system and serves
 * the host), and it can also run as an ordinary process for tests
 * (`--listen ADDR:PORT --no-system`). Static binary, libc only. */
#ifndef THAW_GUEST_AGENT_H
#define THAW_GUEST_AGENT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "buf.h"
#include "proto.h"

struct agent_opts {
	const char *listen_addr; /* IPv4 address to bind */
	int port;
	bool system; /* may change clock, RNG, hostname, mounts (PID 1 mode) */
};

/* boot.c */
/* True when PID 1 runs from an initramfs rather than the root disk. */
bool boot_from_initramfs(void);
void boot_stage1(void) __attribute__((noreturn));
void boot_stage2(void);

/* netcfg.c: configure lo and the guest interface (addresses from guestnet.h) */
int netcfg_setup(void);

/* reseed.c: apply a HELLO (clock, entropy, hostname); fills the reply */
int reseed_apply(const struct proto_frame *hello, bool system, struct buf *reply);

/* builtins.c: runs a built-in command (argv[0] starts with
 * FILE_CMD_PREFIX) with stdio on the session's pipes; returns its exit
 * status. The built-ins themselves: filecmd.c (files), runcode.c (the
 * code interpreter's client), bgcmd.c (background commands). */
int builtin_run(int argc, char **argv);
/* The user an EXEC of a built-in named (T_USER), NULL for none: set in
 * the built-in's own process, before builtin_run. Only bg-start uses it
 * (its command runs as that user; the keeper stays root). */
extern const struct guest_user *builtin_user;
int builtin_file_read(int argc, char **argv);
int builtin_file_stat(int argc, char **argv);
int builtin_file_list(int argc, char **argv);
int builtin_file_remove(int argc, char **argv);
int builtin_file_mkdir(int argc, char **argv);
int builtin_file_write(int argc, char **argv);
int builtin_file_move(int argc, char **argv);
/* filewatch.c */
int builtin_file_watch(int argc, char **argv);
/* idnames.c: a uid's or gid's name in the guest's /etc/passwd or
 * /etc/group, or NULL. */
const char *idnames_user(unsigned uid);
const char *idnames_group(unsigned gid);
int builtin_run_code(int argc, char **argv);
int builtin_bg_start(int argc, char **argv);
int builtin_bg_status(int argc, char **argv);
int builtin_bg_kill(int argc, char **argv);
/* cmdio.c: a built-in's failure: "WHAT PATH: reason" on stderr; returns
 * the errno as its exit status (EIO when it does not fit). */
int cmd_fail(const char *what, const char *path, int e);
/* All of data to fd (EINTR retried); -1 with errno on failure. */
int cmd_write_all(int fd, const void *data, size_t len);

/* user.c: a user of the guest, from /etc/passwd and /etc/group */
#define GUEST_USER_MAX_GROUPS 64
struct guest_user {
	char name[64];
	char home[256];
	uid_t uid;
	gid_t gid;
	gid_t groups[GUEST_USER_MAX_GROUPS]; /* the primary group first */
	int ngroups;
};
/* 0 with *u filled, or -1 with *why (a static string). */
int user_lookup(const char *name, struct guest_user *u, const char **why);
/* In a child: take the user's groups, gid and uid; -1 with errno. */
int user_become(const struct guest_user *u);
/* A copy of envp (may be NULL) with HOME, USER and LOGNAME added where
 * it has none (HOME replaced when own_home); free each string and the
 * array. */
char **user_env(char *const *envp, const struct guest_user *u, bool own_home);

/* server.c */
int server_run(const struct agent_opts *opts);

/* child.c: in a child about to run a command: in, out and err become its fds 0,
 * 1 and 2 and nothing else of the agent stays open (its sockets, and the
 * write end of the child's own stdin pipe, which would hide EOF). */
void child_stdio(int in, int out, int err);

/* log.c: writes a line to stderr (the console in PID 1 mode). */
void agent_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
