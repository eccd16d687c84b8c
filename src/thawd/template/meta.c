#include "meta.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "ids.h"

static const char *const file_names[MF_COUNT] = {
	[MF_MEMORY] = "memory.bin", [MF_STATE] = "state.bin",	[MF_ROOTFS] = "rootfs.img",
	[MF_KERNEL] = "vmlinuz",    [MF_INITRD] = "initrd.img",
};

static const char *const role_names[MF_COUNT] = {
	[MF_MEMORY] = "memory", [MF_STATE] = "state",	[MF_ROOTFS] = "rootfs",
	[MF_KERNEL] = "kernel", [MF_INITRD] = "initrd",
};

static const char *const source_names[SOURCE_COUNT] = {
	[SOURCE_BAKE] = "bake",
	[SOURCE_SNAPSHOT] = "snapshot",
	[SOURCE_FORK] = "fork",
	[SOURCE_PAUSE] = "pause",
};

const char *meta_source_name(enum meta_source s)
{
	return source_names[s];
}

const char *meta_file_name(enum meta_file_role role)
{
	return file_names[role];
}

const char *meta_file_role_name(enum meta_file_role role)
{
	return role_names[role];
}

char *meta_to_json(const struct template_meta *m)
{
	json_t *files = json_object();
	for (int i = 0; i < MF_COUNT; i++)
		if (m->files[i].size) /* size 0: absent (an image has no kernel) */
			json_object_set_new(
				files, role_names[i],
				json_pack("{s:s,s:I,s:o,s:I}", "name", file_names[i], "size",
					  (json_int_t)m->files[i].size, "sha256",
					  m->files[i].sha256[0] ? json_string(m->files[i].sha256)
								: json_null(),
					  "ctime_ns", (json_int_t)m->files[i].ctime_ns));
	json_t *source = json_pack("{s:s}", "kind", source_names[m->source]);
	if (m->source_sandbox[0])
		json_object_set_new(source, "sandbox", json_string(m->source_sandbox));
	json_t *o = json_pack("{s:i,s:s,s:s,s:o,s:I,s:s,s:s,s:s,s:s,s:i,s:i,s:s,s:s,s:f,s:f,s:o}",
			      "format", META_FORMAT, "name", m->name, "build_id", m->build_id,
			      "source", source, "created_at", (json_int_t)m->created_at, "vmm",
			      m->vmm, "vmm_version", m->vmm_version, "accel", m->accel, "cpu",
			      m->cpu, "memory_mb", (int)m->memory_mb, "vcpus", (int)m->vcpus,
			      "cmdline", m->cmdline, "agent_version", m->agent_version, "boot_ms",
			      m->boot_ms, "snapshot_ms", m->snapshot_ms, "files", files);
	json_object_set_new(o, "machine_rev", json_integer(m->machine_rev));
	if (m->kernel[0])
		json_object_set_new(o, "kernel", json_string(m->kernel));
	char *s = json_dumps(o, JSON_INDENT(2) | JSON_SORT_KEYS);
	json_decref(o);
	return s;
}

static int get_str(json_t *o, const char *key, char *dst, size_t size, struct thaw_err **err)
{
	json_t *v = json_object_get(o, key);
	if (!json_is_string(v) || json_string_length(v) == 0 || json_string_length(v) >= size)
		return err_set(err, ERR_CORRUPT, "meta.json: %s must be a non-empty string", key);
	memcpy(dst, json_string_value(v), json_string_length(v) + 1);
	return 0;
}

static int get_uint(json_t *o, const char *key, uint64_t lo, uint64_t hi, uint64_t *out,
		    struct thaw_err **err)
{
	json_t *v = json_object_get(o, key);
	if (!json_is_integer(v) || json_integer_value(v) < 0 ||
	    (uint64_t)json_integer_value(v) < lo || (uint64_t)json_integer_value(v) > hi)
		return err_set(err, ERR_CORRUPT, "meta.json: %s must be an integer in %llu..%llu",
			       key, (unsigned long long)lo, (unsigned long long)hi);
	*out = (uint64_t)json_integer_value(v);
	return 0;
}

static int is_hex64(const char *s)
{
	if (strlen(s) != SHA256_HEX_LEN)
		return 0;
	for (; *s; s++)
		if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f')))
			return 0;
	return 1;
}

/* A checksum, or null where the file may go without one. */
static int get_sha256(json_t *f, enum meta_file_role role, char *dst, struct thaw_err **err)
{
	json_t *v = json_object_get(f, "sha256");
	bool big = role == MF_MEMORY || role == MF_ROOTFS;
	if (big && json_is_null(v)) {
		dst[0] = '\0';
		return 0;
	}
	if (!json_is_string(v) || !is_hex64(json_string_value(v)))
		return err_set(err, ERR_CORRUPT,
			       "meta.json: files.%s.sha256 must be 64 hex digits%s",
			       role_names[role], big ? " or null" : "");
	memcpy(dst, json_string_value(v), SHA256_HEX_LEN + 1);
	return 0;
}

static int parse_source(json_t *o, struct template_meta *m, struct thaw_err **err)
{
	json_t *kind = json_object_get(o, "kind"), *sb = json_object_get(o, "sandbox");
	if (!json_is_object(o) || !json_is_string(kind))
		return err_set(err, ERR_CORRUPT, "meta.json: source.kind is missing");
	int found = -1;
	for (int i = 0; i < SOURCE_COUNT; i++)
		if (strcmp(json_string_value(kind), source_names[i]) == 0)
			found = i;
	if (found < 0)
		return err_set(err, ERR_CORRUPT, "meta.json: unknown source.kind");
	m->source = (enum meta_source)found;
	if (sb && (!json_is_string(sb) || !id_valid_sandbox(json_string_value(sb))))
		return err_set(err, ERR_CORRUPT, "meta.json: source.sandbox is not a sandbox id");
	if ((m->source == SOURCE_BAKE) != (sb == NULL))
		return err_set(err, ERR_CORRUPT,
			       "meta.json: source.sandbox must be given for a capture only");
	if (sb)
		snprintf(m->source_sandbox, sizeof(m->source_sandbox), "%s", json_string_value(sb));
	return 0;
}

/* Fork and pause images restore and never boot: they carry no kernel.
 * A kernel with its drivers built in (thaw's) boots without an initrd. */
static bool may_be_absent(const struct template_meta *m, enum meta_file_role role)
{
	return role == MF_INITRD ||
	       (role == MF_KERNEL && (m->source == SOURCE_FORK || m->source == SOURCE_PAUSE));
}

static int parse_files(json_t *files, struct template_meta *m, struct thaw_err **err)
{
	if (!json_is_object(files))
		return err_set(err, ERR_CORRUPT, "meta.json: files must be an object");
	for (int i = 0; i < MF_COUNT; i++) {
		json_t *f = json_object_get(files, role_names[i]);
		char name[64];
		uint64_t ctime = 0;
		if (!f && may_be_absent(m, (enum meta_file_role)i))
			continue;
		if (!json_is_object(f))
			return err_set(err, ERR_CORRUPT, "meta.json: files.%s is missing",
				       role_names[i]);
		if (get_str(f, "name", name, sizeof(name), err) < 0 ||
		    get_uint(f, "size", 1, UINT64_MAX >> 1, &m->files[i].size, err) < 0 ||
		    get_sha256(f, (enum meta_file_role)i, m->files[i].sha256, err) < 0 ||
		    (json_object_get(f, "ctime_ns") &&
		     get_uint(f, "ctime_ns", 0, INT64_MAX, &ctime, err) < 0))
			return err_wrap(err, "files.%s", role_names[i]);
		m->files[i].ctime_ns = (int64_t)ctime;
		if (strcmp(name, file_names[i]) != 0)
			return err_set(err, ERR_CORRUPT, "meta.json: files.%s is malformed",
				       role_names[i]);
	}
	return 0;
}

bool meta_cpu_valid(const char *cpu)
{
	size_t n = strlen(cpu);
	return n >= 1 && n < sizeof(((struct template_meta *)0)->cpu) &&
	       strspn(cpu, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") == n;
}

int meta_parse(const char *text, size_t len, struct template_meta *m, struct thaw_err **err)
{
	memset(m, 0, sizeof(*m));
	json_error_t je;
	json_t *o = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
	if (!json_is_object(o)) {
		json_decref(o);
		return err_set(err, ERR_CORRUPT, "meta.json is not valid JSON: %s (line %d)",
			       je.text, je.line);
	}
	uint64_t format = 0, created = 0, mem = 0, vcpus = 0, machine_rev = 1;
	int rc = -1;
	json_t *fmt = json_object_get(o, "format");
	if (json_is_integer(fmt) && json_integer_value(fmt) < META_FORMAT) {
		err_set(err, ERR_CORRUPT, "meta.json: format %lld is from an older thaw",
			(long long)json_integer_value(fmt));
		goto out;
	}
	if (get_uint(o, "format", META_FORMAT, META_FORMAT, &format, err) < 0 ||
	    get_str(o, "name", m->name, sizeof(m->name), err) < 0 ||
	    get_str(o, "build_id", m->build_id, sizeof(m->build_id), err) < 0 ||
	    parse_source(json_object_get(o, "source"), m, err) < 0 ||
	    get_uint(o, "created_at", 1, INT64_MAX, &created, err) < 0 ||
	    get_str(o, "vmm", m->vmm, sizeof(m->vmm), err) < 0 ||
	    get_str(o, "vmm_version", m->vmm_version, sizeof(m->vmm_version), err) < 0 ||
	    get_str(o, "accel", m->accel, sizeof(m->accel), err) < 0 ||
	    get_str(o, "cpu", m->cpu, sizeof(m->cpu), err) < 0 ||
	    get_uint(o, "memory_mb", 128, 65536, &mem, err) < 0 ||
	    get_uint(o, "vcpus", 1, 64, &vcpus, err) < 0 ||
	    (json_object_get(o, "machine_rev") &&
	     get_uint(o, "machine_rev", 1, META_MACHINE_REV, &machine_rev, err) < 0) ||
	    (json_object_get(o, "kernel") &&
	     get_str(o, "kernel", m->kernel, sizeof(m->kernel), err) < 0) ||
	    get_str(o, "cmdline", m->cmdline, sizeof(m->cmdline), err) < 0 ||
	    get_str(o, "agent_version", m->agent_version, sizeof(m->agent_version), err) < 0 ||
	    parse_files(json_object_get(o, "files"), m, err) < 0)
		goto out;
	if (!id_valid_template(m->name) || !id_valid_build(m->build_id)) {
		err_set(err, ERR_CORRUPT, "meta.json: malformed name or build_id");
		goto out;
	}
	/* Handed to QEMU as -cpu: a model name, never properties. */
	if (!meta_cpu_valid(m->cpu)) {
		err_set(err, ERR_CORRUPT, "meta.json: cpu must be a CPU model name ([A-Za-z0-9._-])");
		goto out;
	}
	if (strcmp(m->accel, "kvm") != 0 && strcmp(m->accel, "tcg") != 0) {
		err_set(err, ERR_CORRUPT, "meta.json: accel must be kvm or tcg");
		goto out;
	}
	if (m->files[MF_MEMORY].size != (uint64_t)mem << 20) {
		err_set(err, ERR_CORRUPT, "meta.json: memory file size does not match memory_mb");
		goto out;
	}
	m->created_at = (int64_t)created;
	m->memory_mb = (uint32_t)mem;
	m->vcpus = (uint32_t)vcpus;
	m->machine_rev = (uint32_t)machine_rev;
	json_t *boot = json_object_get(o, "boot_ms"), *snap = json_object_get(o, "snapshot_ms");
	if (!json_is_number(boot) || !json_is_number(snap)) {
		err_set(err, ERR_CORRUPT, "meta.json: boot_ms and snapshot_ms must be numbers");
		goto out;
	}
	m->boot_ms = json_number_value(boot);
	m->snapshot_ms = json_number_value(snap);
	rc = 0;
out:
	json_decref(o);
	return rc;
}
