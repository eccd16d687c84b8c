#include "build.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "cleanup.h"
#include "fsutil.h"
#include "sha256.h"

static int sig_of(const char *path, struct file_sig *s)
{
	struct stat st;
	if (stat(path, &st) < 0)
		return -1;
	*s = (struct file_sig){ st.st_dev, st.st_ino, st.st_size, st.st_ctim };
	return 0;
}

static bool sig_equal(const struct file_sig *a, const struct file_sig *b)
{
	return a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
	       a->ctime.tv_sec == b->ctime.tv_sec && a->ctime.tv_nsec == b->ctime.tv_nsec;
}

static int64_t ctime_ns(const struct file_sig *s)
{
	return s->ctime.tv_sec * 1000000000ll + s->ctime.tv_nsec;
}

bool build_dir_streamed(const char *dir)
{
	_cleanup_free_ char *p = xasprintf("%s/%s", dir, BUILD_MANIFEST_FILE);
	return fs_exists(p);
}

/* What is checked of a file: for a streamed build its memory and disk
 * are the lazy layer's (checked window by window there). */
static bool checked_here(bool streamed, int role)
{
	return !streamed || (role != MF_MEMORY && role != MF_ROOTFS);
}

void build_free(struct template *t)
{
	if (!t)
		return;
	if (t->memory_fd >= 0)
		close(t->memory_fd);
	free(t->dir);
	for (int i = 0; i < MF_COUNT; i++)
		free(t->paths[i]);
	free(t);
}

/* Size always; content when the file is small (device state, every
 * load) or was written after it was described (its ctime moved):
 * hashing the memory file and the disk on every load would cost
 * seconds. */
static int verify_file(const struct template *t, enum meta_file_role role, struct file_sig *sig,
		       struct thaw_err **err)
{
	const struct meta_file *mf = &t->meta.files[role];
	const char *name = meta_file_role_name(role);
	if (sig_of(t->paths[role], sig) < 0)
		return err_set(err, ERR_CORRUPT, "%s file is missing", name);
	if ((uint64_t)sig->size != mf->size)
		return err_set(err, ERR_CORRUPT, "%s file has %lld bytes, metadata says %llu", name,
			       (long long)sig->size, (unsigned long long)mf->size);
	bool small = role == MF_STATE || role == MF_INITRD || role == MF_KERNEL;
	if (!small && ctime_ns(sig) == mf->ctime_ns)
		return 0;
	if (!mf->sha256[0])
		return err_set(err, ERR_CORRUPT, "%s file was changed after it was captured", name);
	char sum[SHA256_HEX_LEN + 1];
	if (sha256_file(t->paths[role], sum, err) < 0)
		return -1;
	if (strcmp(sum, mf->sha256) != 0)
		return err_set(err, ERR_CORRUPT, "%s file does not match its checksum", name);
	return 0;
}

int build_load(const char *dir, const char *expect_name, const char *expect_build,
	       const char *meta_sha256, struct template **out, struct build_sigs *sigs,
	       struct thaw_err **err)
{
	struct template *t = xcalloc(1, sizeof(*t));
	t->memory_fd = -1;
	t->dir = xstrdup(dir);
	for (int i = 0; i < MF_COUNT; i++)
		t->paths[i] = xasprintf("%s/%s", dir, meta_file_name((enum meta_file_role)i));
	_cleanup_free_ char *meta_path = xasprintf("%s/meta.json", dir);
	_cleanup_free_ char *text = NULL;
	size_t len = 0;
	char sum[SHA256_HEX_LEN + 1];
	if (sig_of(meta_path, &sigs->meta) < 0 ||
	    fs_read_file(meta_path, META_MAX_BYTES, &text, &len, err) < 0) {
		err_set(err, ERR_CORRUPT, "meta.json is missing or unreadable");
		goto fail;
	}
	sha256_hex(text, len, sum);
	if (strcmp(sum, meta_sha256) != 0) {
		err_set(err, ERR_CORRUPT, "meta.json does not match its recorded checksum");
		goto fail;
	}
	if (meta_parse(text, len, &t->meta, err) < 0)
		goto fail;
	t->streamed = build_dir_streamed(dir);
	if (strcmp(t->meta.build_id, expect_build) != 0 ||
	    (expect_name && strcmp(t->meta.name, expect_name) != 0)) {
		err_set(err, ERR_CORRUPT, "meta.json describes another build");
		goto fail;
	}
	for (int i = 0; i < MF_COUNT; i++)
		if (t->meta.files[i].size && /* 0: absent, see meta.h */
		    checked_here(t->streamed, i) && verify_file(t, (enum meta_file_role)i, &sigs->files[i], err) < 0)
			goto fail;
	snprintf(t->name, sizeof(t->name), "%s", t->meta.name);
	snprintf(t->build_id, sizeof(t->build_id), "%s", t->meta.build_id);
	t->refs = 1;
	*out = t;
	return 0;
fail:
	build_free(t);
	return -1;
}

bool build_unchanged(const struct template *t, const struct build_sigs *sigs)
{
	struct file_sig s;
	_cleanup_free_ char *meta_path = xasprintf("%s/meta.json", t->dir);
	if (sig_of(meta_path, &s) < 0 || !sig_equal(&s, &sigs->meta))
		return false;
	for (int i = 0; i < MF_COUNT; i++)
		if (t->meta.files[i].size && checked_here(t->streamed, i) &&
		    (sig_of(t->paths[i], &s) < 0 || !sig_equal(&s, &sigs->files[i])))
			return false;
	return true;
}

void build_stat(const char *dir, struct build_sigs *out)
{
	memset(out, 0, sizeof(*out));
	_cleanup_free_ char *meta_path = xasprintf("%s/meta.json", dir);
	sig_of(meta_path, &out->meta); /* a missing file keeps its zeros */
	bool streamed = build_dir_streamed(dir);
	for (int i = 0; i < MF_COUNT; i++) {
		if (!checked_here(streamed, i))
			continue;
		_cleanup_free_ char *p = xasprintf("%s/%s", dir, meta_file_name(i));
		sig_of(p, &out->files[i]);
	}
}

bool build_sigs_equal(const struct build_sigs *a, const struct build_sigs *b)
{
	if (!sig_equal(&a->meta, &b->meta))
		return false;
	for (int i = 0; i < MF_COUNT; i++)
		if (!sig_equal(&a->files[i], &b->files[i]))
			return false;
	return true;
}

int build_write_meta(const char *dir, const struct template_meta *m,
		     char sha256_out[SHA256_HEX_LEN + 1], struct thaw_err **err)
{
	_cleanup_free_ char *json = meta_to_json(m);
	_cleanup_free_ char *path = xasprintf("%s/meta.json", dir);
	sha256_hex(json, strlen(json), sha256_out);
	return fs_write_atomic(path, json, strlen(json), 0600, err);
}

int build_describe_file(const char *dir, enum meta_file_role role, bool hash, bool sync,
			struct template_meta *m, struct thaw_err **err)
{
	_cleanup_free_ char *p = xasprintf("%s/%s", dir, meta_file_name(role));
	struct meta_file *mf = &m->files[role];
	struct stat st;
	if (sync && fs_fsync_path(p, err) < 0)
		return -1;
	if (stat(p, &st) < 0)
		return err_sys(err, "stat %s", p);
	if (st.st_size <= 0)
		return err_set(err, ERR_INTERNAL, "%s is empty", p);
	mf->sha256[0] = '\0';
	if (hash && sha256_file(p, mf->sha256, err) < 0)
		return -1;
	mf->size = (uint64_t)st.st_size;
	mf->ctime_ns = st.st_ctim.tv_sec * 1000000000ll + st.st_ctim.tv_nsec;
	return 0;
}
