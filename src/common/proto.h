/* The host <-> guest agent protocol: typed, size-checked frames over one
 * TCP connection inside the sandbox's network namespace.
 *
 * Frame: 8-byte header, little-endian
 *     u32 payload length (<= PROTO_MAX_PAYLOAD)
 *     u8  type (enum proto_type)
 *     u8  stream (OUTPUT frames: 1 stdout, 2 stderr; else 0)
 *     u16 reserved, must be 0
 * then the payload. Structured payloads are a sequence of TLV fields
 *     u16 tag, u32 length, bytes
 * OUTPUT and STDIN payloads are raw bytes.
 *
 * Both ends treat every frame as hostile: lengths are checked before any
 * allocation, unknown types are rejected, strings may not contain NUL.
 * This file is shared by thawd and the static guest agent, so it uses
 * libc only. */
#ifndef THAW_PROTO_H
#define THAW_PROTO_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

/* 2: built-in file commands (argv[0] "thaw:file-...", see FILE_CMD_*).
 * 3: the process table (LIST, ATTACH, SIGNAL, PROC_STDIN, PROC_RESIZE;
 *    EXEC's T_TAG, T_USER, T_KILL_ON_DISCONNECT). An older agent answers
 *    those frames with ERROR "unexpected message type". */
#define PROTO_VERSION "thaw-agent/3"
#define PROTO_PROCESS_TABLE 3 /* the version that has it */
#define PROTO_HDR_SIZE 8
#define PROTO_MAX_PAYLOAD (1u << 20)
#define PROTO_TLV_HDR_SIZE 6

enum proto_type {
	MSG_HELLO = 1,	    /* host: time, entropy, hostname -> guest reseeds */
	MSG_HELLO_OK = 2,   /* guest: version, its clock after setting it */
	MSG_PREPARE = 3,    /* host: about to snapshot; flush disks */
	MSG_PREPARE_OK = 4, /* guest: flushed */
	MSG_EXEC = 5,	    /* host: run a command */
	MSG_STDIN = 6,	    /* host: bytes for the command's stdin; empty = EOF */
	MSG_OUTPUT = 7,	    /* guest: bytes from stdout (stream 1) or stderr (2) */
	MSG_EXIT = 8,	    /* guest: the command ended */
	MSG_ERROR = 9,	    /* either: request refused, with a message */
	MSG_FILE_INFO = 10, /* in a file command's stdout: one file's metadata */
	MSG_STARTED = 11,   /* guest: the command runs, with its pid (thaw-agent/2) */
	MSG_RESIZE = 12,    /* host: a PTY command's terminal size changed */
	/* thaw-agent/3: the process table. Every command started by EXEC has
	 * an entry addressed by its pid that outlives the connection. */
	MSG_LIST = 13,	      /* host: list the table -> PROC frames, then OK */
	MSG_PROC = 14,	      /* guest: one entry of the table */
	MSG_ATTACH = 15,      /* host: T_PID [T_FROM_START]: follow that process like
			       * the EXEC that started it (STARTED, OUTPUT, EXIT;
			       * STDIN and RESIZE on this connection go to it) */
	MSG_SIGNAL = 16,      /* host: T_PID T_SIGNO: to its process group -> OK */
	MSG_PROC_STDIN = 17,  /* host: T_PID [T_DATA] [T_EOF] -> OK */
	MSG_PROC_RESIZE = 18, /* host: T_PID T_ROWS T_COLS -> OK */
	MSG_OK = 19,	      /* guest: done */
	MSG_TYPE_MAX = 19,
};

enum proto_stream { STREAM_NONE = 0, STREAM_STDOUT = 1, STREAM_STDERR = 2 };

enum proto_tag {
	T_TIME_NS = 1,	    /* u64: host CLOCK_REALTIME in ns */
	T_ENTROPY = 2,	    /* bytes: fresh host randomness, 16..512 bytes */
	T_HOSTNAME = 3,	    /* str */
	T_VERSION = 4,	    /* str */
	T_ARG = 5,	    /* str, repeated: argv in order */
	T_ENV = 6,	    /* str "KEY=VALUE", repeated */
	T_CWD = 7,	    /* str */
	T_TIMEOUT_MS = 8,   /* u32, 0 = none */
	T_EXIT_CODE = 9,    /* i32 */
	T_SIGNAL = 10,	    /* i32, signal that ended the command, 0 if none */
	T_TIMED_OUT = 11,   /* u8 */
	T_DURATION_US = 12, /* u64 */
	T_MESSAGE = 13,	    /* str */
	T_CLOCK_NS = 14,    /* u64: guest CLOCK_REALTIME after HELLO */
	T_HAS_STDIN = 15,   /* u8: STDIN frames follow the EXEC */
	T_NAME = 16,	    /* str: a file's name (FILE_INFO) */
	T_FTYPE = 17,	    /* u8: enum proto_ftype */
	T_SIZE = 18,	    /* u64: bytes */
	T_MODE = 19,	    /* u32: permission bits (07777) */
	T_UID = 20,	    /* u32 */
	T_GID = 21,	    /* u32 */
	T_MTIME_NS = 22,    /* u64: modification time, ns since the epoch */
	T_LINK = 23,	    /* str: a symlink's target */
	T_PID = 24,	    /* u32: a started command's pid (its process group) */
	T_PTY = 25,	    /* u8: EXEC on a new pseudo-terminal (stdout and stderr merged) */
	T_ROWS = 26,	    /* u32: terminal rows (EXEC with T_PTY, RESIZE) */
	T_COLS = 27,	    /* u32: terminal columns */
	/* thaw-agent/3 */
	T_TAG = 28,		   /* str: a name given to a command at EXEC */
	T_USER = 29,		   /* str: run as this user of the guest's /etc/passwd */
	T_KILL_ON_DISCONNECT = 30, /* u8: EXEC: kill it when this connection ends */
	T_FROM_START = 31,	   /* u8: ATTACH: replay the buffered output first */
	T_SIGNO = 32,		   /* i32: SIGNAL */
	T_DATA = 33,		   /* bytes: PROC_STDIN */
	T_EOF = 34,		   /* u8: PROC_STDIN: close its stdin after DATA */
	T_CMD = 35,		   /* str: PROC: the command line, shortened */
	T_RUNNING = 36,		   /* u8: PROC */
	T_START_NS = 37,	   /* u64: PROC: guest CLOCK_REALTIME at start */
	T_BUFFERED = 38,	   /* u64: PROC: output bytes held for ATTACH */
	T_DROPPED = 39,		   /* u64: PROC: output bytes dropped (oldest first) */
	T_STDIN_OPEN = 40,	   /* u8: PROC: its stdin takes PROC_STDIN */
	T_ERRNO = 41,		   /* u32: ERROR: ENOENT no such process, EAGAIN table
				    * full, EINVAL bad request, ESRCH exited */
	/* file info (FILE_INFO) */
	T_OWNER = 42, /* str: a file's owner's name, when the guest knows it */
	T_GROUP = 43, /* str: its group's name */
	/* u8, HELLO: this VM was just restored (created, resumed, forked):
	 * every other host connection it holds is from a host side that is
	 * gone (idle ones thawd kept for reuse, streams cut by a pause), and
	 * the agent closes them. An older agent ignores it. */
	T_FRESH = 44,
};

/* The guest's process table: its bounds (each entry's output is kept in
 * a ring of PROC_OUTPUT_MAX bytes, the oldest dropped first; all rings
 * together hold at most PROC_OUTPUT_TOTAL, the largest giving way). */
#define PROC_MAX_LIVE 1024
#define PROC_MAX_EXITED 64
#define PROC_OUTPUT_MAX (1u << 20)
#define PROC_OUTPUT_TOTAL (64u << 20)
#define PROC_TAG_MAX 64
#define PROC_CMD_MAX 1024

enum proto_ftype { FTYPE_FILE = 1, FTYPE_DIR = 2, FTYPE_SYMLINK = 3, FTYPE_OTHER = 4 };

/* File commands: an EXEC whose argv[0] is one of these runs inside the
 * agent (a forked copy of it, so the exec machinery streams, times out
 * and kills it like any command) instead of a program. They exit 0, or
 * with the errno of what failed and a message on stderr. stat, list,
 * mkdir and write print MSG_FILE_INFO frames on stdout.
 *   thaw:file-read PATH                         the bytes on stdout
 *   thaw:file-write PATH MODE UID GID PARENTS   stdin into PATH, atomically
 *                                               (MODE octal, UID, GID or "-"
 *                                               to keep the file's own or
 *                                               0644/0/0; PARENTS 0 or 1)
 *   thaw:file-stat PATH                         lstat
 *   thaw:file-list PATH [DEPTH MAX]             one frame per entry; with
 *                                               DEPTH (1-10) the tree that
 *                                               deep (T_NAME the path below
 *                                               PATH), stopping after MAX+1
 *   thaw:file-move FROM TO OVERWRITE            rename(2); then FILE_INFO of TO
 *   thaw:file-watch PATH RECURSIVE              inotify events until killed:
 *                                               records "TYPE\tPATH\0" (see
 *                                               filewatch.c), NUL-ended since
 *                                               a path may hold a newline
 *   thaw:file-remove PATH RECURSIVE             unlink, rmdir or a tree
 *   thaw:file-mkdir PATH MODE PARENTS
 * background commands, which outlive the connection that started them
 * (their state under BG_DIR/<pid>/: stdout, stderr, and "exit" once done,
 * holding "exited N" or "killed S"):
 *   thaw:bg-start CMD...                       prints the command's pid
 *   thaw:bg-status PID                         prints the exit file, or
 *                                              "running"
 *   thaw:bg-kill PID                           SIGKILL to its process group
 * and one more built-in, not about files:
 *   thaw:run-code                               stdin to the template's code
 *                                               interpreter (a unix socket,
 *                                               RUN_CODE_SOCKET), its answer
 *                                               on stdout */
#define RUN_CODE_SOCKET "/run/thaw/interp.sock"
#define BG_DIR "/run/thaw/bg"
#define FILE_CMD_PREFIX "thaw:"
#define FILE_LIST_DEPTH_MAX 10

#define PROTO_ENTROPY_MIN 16
#define PROTO_ENTROPY_MAX 512
#define PROTO_MAX_ARGS 4096
#define PROTO_MAX_ENV 4096

struct proto_frame {
	uint8_t type;
	uint8_t stream;
	uint32_t len;
	const uint8_t *payload; /* points into the caller's buffer */
};

/* Parses one frame at the start of data. Returns the frame size when a
 * whole valid frame is there, 0 when more bytes are needed, -1 when the
 * header is invalid (the connection must be dropped). */
long proto_frame_parse(const uint8_t *data, size_t len, struct proto_frame *out);

/* Frame building: begin, add fields, end. */
size_t proto_begin(struct buf *b, enum proto_type type, uint8_t stream);
void proto_put_bytes(struct buf *b, uint16_t tag, const void *v, size_t n);
void proto_put_str(struct buf *b, uint16_t tag, const char *s);
void proto_put_u8(struct buf *b, uint16_t tag, uint8_t v);
void proto_put_u32(struct buf *b, uint16_t tag, uint32_t v);
void proto_put_i32(struct buf *b, uint16_t tag, int32_t v);
void proto_put_u64(struct buf *b, uint16_t tag, uint64_t v);
void proto_end(struct buf *b, size_t start);
/* A whole frame with a raw payload. */
void proto_put_raw_frame(struct buf *b, enum proto_type type, uint8_t stream, const void *data,
			 size_t n);

struct proto_tlv_iter {
	const uint8_t *p;
	const uint8_t *end;
};

struct proto_tlv {
	uint16_t tag;
	uint32_t len;
	const uint8_t *val;
};

void proto_tlv_init(struct proto_tlv_iter *it, const struct proto_frame *f);
/* 1: next field in *out; 0: end of payload; -1: malformed payload. */
int proto_tlv_next(struct proto_tlv_iter *it, struct proto_tlv *out);

/* Typed readers: 0 on success, -1 when the field has the wrong size or
 * (strings) holds a NUL byte. Strings are copied into a new allocation. */
int proto_tlv_u8(const struct proto_tlv *t, uint8_t *out);
int proto_tlv_u32(const struct proto_tlv *t, uint32_t *out);
int proto_tlv_i32(const struct proto_tlv *t, int32_t *out);
int proto_tlv_u64(const struct proto_tlv *t, uint64_t *out);
int proto_tlv_str(const struct proto_tlv *t, char **out);

const char *proto_type_name(uint8_t type);

#endif
