/* libFuzzer: the guest protocol parser (common/proto.c), which both
 * thawd and the guest agent run on every byte from the other side.
 * Frames are parsed back to back; every field of every frame goes
 * through every typed reader. Nothing may crash or read out of bounds. */
#include <stdint.h>
#include <stdlib.h>

#include "proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	size_t off = 0;
	for (;;) {
		struct proto_frame f;
		long used = proto_frame_parse(data + off, len - off, &f);
		if (used <= 0)
			break;
		struct proto_tlv_iter it;
		struct proto_tlv t;
		proto_tlv_init(&it, &f);
		while (proto_tlv_next(&it, &t) > 0) {
			uint8_t u8;
			uint32_t u32;
			int32_t i32;
			uint64_t u64;
			char *s = NULL;
			proto_tlv_u8(&t, &u8);
			proto_tlv_u32(&t, &u32);
			proto_tlv_i32(&t, &i32);
			proto_tlv_u64(&t, &u64);
			if (proto_tlv_str(&t, &s) == 0)
				free(s);
		}
		(void)proto_type_name(f.type);
		off += (size_t)used;
	}
	return 0;
}
