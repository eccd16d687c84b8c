/* libFuzzer: the S3 answers' XML (objstore/s3xml.c): a store's list and
 * error documents are read with a bounded tag extractor; whatever the
 * store sends, it must stay inside the document and its bounds. */
#include <stdint.h>
#include <stdlib.h>

#include "s3xml.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	const char *doc = (const char *)data;
	static const char *const tags[] = { "Contents", "Key",	"Size",	  "NextContinuationToken",
					    "UploadId", "Code", "Message" };
	for (size_t t = 0; t < sizeof(tags) / sizeof(tags[0]); t++) {
		size_t pos = 0, start, n;
		for (int i = 0; i < 64 && s3xml_next(doc, len, &pos, tags[t], &start, &n) == 1;
		     i++) {
			if (start > len || n > len - start)
				abort();
			char *text = NULL;
			if (s3xml_text(doc + start, n, 4096, &text) == 0)
				free(text);
		}
		char *v = NULL;
		if (s3xml_get(doc, len, tags[t], 1024, &v) == 1)
			free(v);
	}
	return 0;
}
