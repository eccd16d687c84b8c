/* src/thawd/vmm/memcapture.c: a child process maps a file MAP_PRIVATE,
 * reads some pages and writes others; the capture must copy exactly the
 * written ones into the clone, at their file offsets, and nothing else. */
#include <fcntl.h>
#include <stdbool.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "fsutil.h"
#include "vmm/memcapture.h"
#include "vmm/vmm.h"

#define PG 4096
#define NPAGES 64

struct fixture {
	char dir[64];
	char base[128], out[128];
};

static void fill_file(const char *path)
{
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	uint8_t page[PG];
	for (int i = 0; i < NPAGES; i++) {
		memset(page, 0x10 + i, sizeof(page));
		assert_int_equal(pwrite(fd, page, PG, (off_t)i * PG), PG);
	}
	close(fd);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	snprintf(f->dir, sizeof(f->dir), "/tmp/thaw-unit-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->base, sizeof(f->base), "%s/base.bin", f->dir);
	snprintf(f->out, sizeof(f->out), "%s/out.bin", f->dir);
	fill_file(f->base);
	fill_file(f->out); /* the "clone": the same bytes as the base */
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	fs_rm_rf(f->dir, NULL);
	free(f);
	return 0;
}

/* A child that maps `pages` pages of path from page `first`, reads
 * every `read_every`-th page, writes 0xA0+page into the pages listed,
 * then waits until its stdin pipe closes. */
static pid_t child(const char *path, int first, int pages, const int *writes, int nwrites,
		   int read_every, int *release_fd)
{
	int ready[2], release[2];
	assert_int_equal(pipe(ready), 0);
	assert_int_equal(pipe(release), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(ready[0]);
		close(release[1]);
		/* The memory file at the VMM's number, the pipes out of its way. */
		ready[1] = fcntl(ready[1], F_DUPFD, 100);
		release[0] = fcntl(release[0], F_DUPFD, 100);
		int fd = open(path, O_RDONLY);
		if (fd < 0 || dup2(fd, VMM_MEMORY_FD) < 0)
			_exit(5);
		volatile uint8_t *m = mmap(NULL, (size_t)pages * PG, PROT_READ | PROT_WRITE,
					   MAP_PRIVATE, fd, (off_t)first * PG);
		if (m == MAP_FAILED)
			_exit(2);
		unsigned sum = 0;
		for (int p = 0; read_every && p < pages; p += read_every)
			sum += m[(size_t)p * PG];
		for (int i = 0; i < nwrites; i++)
			memset((uint8_t *)m + (size_t)(writes[i] - first) * PG, 0xA0 + writes[i],
			       PG);
		char c = (char)sum;
		if (write(ready[1], &c, 1) != 1)
			_exit(3);
		if (read(release[0], &c, 1) < 0)
			_exit(4);
		_exit(0);
	}
	close(ready[1]);
	close(release[0]);
	char c;
	assert_int_equal(read(ready[0], &c, 1), 1);
	close(ready[0]);
	*release_fd = release[1];
	return pid;
}

static void finish(pid_t pid, int release_fd)
{
	close(release_fd);
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

/* Every page of out holds the base pattern, except `writes`. */
static void expect_out(const struct fixture *f, const int *writes, int nwrites)
{
	int fd = open(f->out, O_RDONLY);
	uint8_t page[PG];
	for (int i = 0; i < NPAGES; i++) {
		assert_int_equal(pread(fd, page, PG, (off_t)i * PG), PG);
		uint8_t want = (uint8_t)(0x10 + i);
		for (int k = 0; k < nwrites; k++)
			if (writes[k] == i)
				want = (uint8_t)(0xA0 + i);
		for (int b = 0; b < PG; b++)
			if (page[b] != want)
				fail_msg("page %d byte %d: %#x, want %#x", i, b, page[b], want);
	}
	close(fd);
}

static void test_copies_exactly_the_written_pages(void **state)
{
	struct fixture *f = *state;
	/* Runs: 3-5, 10, 62-63; every other page read (present, file-backed). */
	const int writes[] = { 3, 4, 5, 10, 62, 63 };
	int release;
	pid_t pid = child(f->base, 0, NPAGES, writes, 6, 2, &release);
	int out = open(f->out, O_RDWR);
	struct mem_capture_stats st;
	struct thaw_err *e = NULL;
	if (mem_capture_dirty(pid, (uint64_t)NPAGES * PG, out, NULL, &st, &e) != 0)
		fail_msg("%s", err_msg(e));
	close(out);
	finish(pid, release);
	assert_int_equal(st.pages, NPAGES);
	assert_int_equal(st.dirty, 6);
	assert_int_equal(st.runs, 3);
	expect_out(f, writes, 6);
}

/* A mapping of part of the file, from an offset: pages land at their
 * file offsets, and pages beyond `size` are not copied. */
static void test_offset_mapping_and_size_limit(void **state)
{
	struct fixture *f = *state;
	const int writes[] = { 8, 20, 23 };
	int release;
	pid_t pid = child(f->base, 8, 16, writes, 3, 0, &release);
	int out = open(f->out, O_RDWR);
	struct mem_capture_stats st;
	struct thaw_err *e = NULL;
	/* size ends inside the mapping, before page 23. */
	if (mem_capture_dirty(pid, 22ull * PG, out, NULL, &st, &e) != 0)
		fail_msg("%s", err_msg(e));
	close(out);
	finish(pid, release);
	assert_int_equal(st.pages, 14);
	assert_int_equal(st.dirty, 2);
	const int copied[] = { 8, 20 };
	expect_out(f, copied, 2);
}

/* The resident list holds every page read or written, in runs. The
 * kernel maps cached neighbours of a read page too (fault-around), so
 * it may hold more: those are resident as well. */
static void test_lists_the_resident_pages(void **state)
{
	struct fixture *f = *state;
	const int writes[] = { 3, 4, 5, 10, 62, 63 };
	int release;
	pid_t pid = child(f->base, 0, NPAGES, writes, 6, 2, &release);
	int out = open(f->out, O_RDWR);
	struct mem_capture_stats st;
	struct page_runs res = { 0 };
	struct thaw_err *e = NULL;
	if (mem_capture_dirty(pid, (uint64_t)NPAGES * PG, out, &res, &st, &e) != 0)
		fail_msg("%s", err_msg(e));
	close(out);
	finish(pid, release);
	bool want[NPAGES] = { 0 }, got[NPAGES] = { 0 };
	int ngot = 0;
	for (int p = 0; p < NPAGES; p++) {
		want[p] = p % 2 == 0;
		for (int k = 0; k < 6; k++)
			want[p] = want[p] || writes[k] == p;
	}
	for (size_t i = 0; i < res.n; i++) {
		if (i > 0) /* runs are merged: none touches the previous one */
			assert_true(res.run[i][0] > res.run[i - 1][0] + res.run[i - 1][1]);
		for (uint64_t p = res.run[i][0]; p < res.run[i][0] + res.run[i][1]; p++) {
			got[p] = true;
			ngot++;
		}
	}
	for (int p = 0; p < NPAGES; p++)
		if (want[p] && !got[p])
			fail_msg("page %d was touched but is not listed", p);
	assert_int_equal(st.resident, ngot);
	page_runs_free(&res);
}

static void test_a_process_without_the_mapping_is_not_found(void **state)
{
	struct fixture *f = *state;
	int out = open(f->out, O_RDWR);
	struct mem_capture_stats st;
	struct thaw_err *e = NULL;
	/* Something at the memory number, but not mapped. */
	int saved = fcntl(VMM_MEMORY_FD, F_DUPFD_CLOEXEC, 100);
	assert_int_equal(dup2(out, VMM_MEMORY_FD), VMM_MEMORY_FD);
	assert_int_equal(mem_capture_dirty(getpid(), (uint64_t)NPAGES * PG, out, NULL, &st, &e),
			 -1);
	assert_int_equal(e->code, ERR_NOT_FOUND);
	err_free(e);
	e = NULL;
	/* Nothing there at all. */
	close(VMM_MEMORY_FD);
	assert_int_equal(mem_capture_dirty(getpid(), 4096, out, NULL, &st, &e), -1);
	err_free(e);
	if (saved >= 0)
		dup2(saved, VMM_MEMORY_FD);
	close(out);
	expect_out(f, NULL, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_copies_exactly_the_written_pages, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_offset_mapping_and_size_limit, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_lists_the_resident_pages, setup, teardown),
		cmocka_unit_test_setup_teardown(test_a_process_without_the_mapping_is_not_found,
						setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
