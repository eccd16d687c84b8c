#include "meta.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "ids.h"

static const char *const file_names[MF_COUNT] = {
	[MF_MEMORY] = "memory.bin", [MF_STATE] = "state.bin", [MF_ROOTFS] = "rootfs.img",
	[MF_KERNEL] = "vmlinuz",    [MF_INITRD] = "initrd.img",
};

static const char *const role_names[MF_COUNT] = {
	[MF_MEMORY] = "memory", [MF_STATE] = "state",   [MF_ROOTFS] = "rootfs",
	[MF_KERNEL] = "kernel", [MF_INITRD] = "initrd",
};

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
		json_object_set_new(files, role_names[i],
				    json_pack("{s:s,s:I,s:s,s:I}", "name", file_names[i], "size",
					      (json_int_t)m->files[i].size, "sha256",
					      m->files[i].sha256, "ctime_ns",
					      (json_int_t)m->files[i].ctime_ns));
	json_t *o = json_pack("{s:i,s:s,s:s,s:I,s:s,s:s,s:s,s:s,s:i,s:i,s:s,s:s,s:f,s:f,s:o}",
			      "format", META_FORMAT, "name", m->name, "build_id", m->build_id,
			      "created_at", (json_int_t)m->created_at, "vmm", m->vmm,
			      "vmm_version", m->vmm_version, "accel", m->accel, "cpu", m->cpu,
			      "memory_mb", (int)m->memory_mb, "vcpus", (int)m->vcpus, "cmdline",
			      m->cmdline, "agent_version", m->agent_version, "boot_ms", m->boot_ms,
			      "snapshot_ms", m->snapshot_ms, "files", files);
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

static int parse_files(json_t *files, struct template_meta *m, struct thaw_err **err)
{
	if (!json_is_object(files))
		return err_set(err, ERR_CORRUPT, "meta.json: files must be an object");
	for (int i = 0; i < MF_COUNT; i++) {
		json_t *f = json_object_get(files, role_names[i]);
		char name[64];
		uint64_t ctime = 0;
		if (!json_is_object(f))
			return err_set(err, ERR_CORRUPT, "meta.json: files.%s is missing",
				       role_names[i]);
		if (get_str(f, "name", name, sizeof(name), err) < 0 ||
		    get_uint(f, "size", 1, UINT64_MAX >> 1, &m->files[i].size, err) < 0 ||
		    get_str(f, "sha256", m->files[i].sha256, sizeof(m->files[i].sha256), err) < 0 ||
		    (json_object_get(f, "ctime_ns") &&
		     get_uint(f, "ctime_ns", 0, INT64_MAX, &ctime, err) < 0))
			return err_wrap(err, "files.%s", role_names[i]);
		m->files[i].ctime_ns = (int64_t)ctime;
		if (strcmp(name, file_names[i]) != 0 || !is_hex64(m->files[i].sha256))
			return err_set(err, ERR_CORRUPT, "meta.json: files.%s is malformed",
				       role_names[i]);
	}
	return 0;
}

int meta_parse(const char *text, size_t len, struct template_meta *m, struct thaw_err **err)
{
	memset(m, 0, sizeof(*m));
	json_error_t je;
	json_t *o = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
	if (!json_is_object(o)) {
		json_decref(o);
		return err_set(err, ERR_CORRUPT, "meta.json is not valid JSON: %s (line %d)", je.text,
			       je.line);
	}
	uint64_t format = 0, created = 0, mem = 0, vcpus = 0;
	int rc = -1;
	if (get_uint(o, "format", META_FORMAT, META_FORMAT, &format, err) < 0 ||
	    get_str(o, "name", m->name, sizeof(m->name), err) < 0 ||
	    get_str(o, "build_id", m->build_id, sizeof(m->build_id), err) < 0 ||
	    get_uint(o, "created_at", 1, INT64_MAX, &created, err) < 0 ||
	    get_str(o, "vmm", m->vmm, sizeof(m->vmm), err) < 0 ||
	    get_str(o, "vmm_version", m->vmm_version, sizeof(m->vmm_version), err) < 0 ||
	    get_str(o, "accel", m->accel, sizeof(m->accel), err) < 0 ||
	    get_str(o, "cpu", m->cpu, sizeof(m->cpu), err) < 0 ||
	    get_uint(o, "memory_mb", 128, 65536, &mem, err) < 0 ||
	    get_uint(o, "vcpus", 1, 64, &vcpus, err) < 0 ||
	    get_str(o, "cmdline", m->cmdline, sizeof(m->cmdline), err) < 0 ||
	    get_str(o, "agent_version", m->agent_version, sizeof(m->agent_version), err) < 0 ||
	    parse_files(json_object_get(o, "files"), m, err) < 0)
		goto out;
	if (!id_valid_template(m->name) || !id_valid_build(m->build_id)) {
		err_set(err, ERR_CORRUPT, "meta.json: malformed name or build_id");
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
