/* The few XML answers of S3 (ListObjectsV2, InitiateMultipartUpload,
 * CompleteMultipartUpload, Error), read with a small tag extractor: no
 * DTDs, no namespaces, no nesting of an element inside one of the same
 * name. Every answer is hostile input: malformed text is an error, never
 * a crash, and every value has a size bound. */
#ifndef THAW_S3XML_H
#define THAW_S3XML_H

#include <stddef.h>

/* Finds the next element <tag> (or <tag attr=...>, or <tag/>) in
 * doc[*pos..len), and sets [*start, *start + *n) to its raw content and
 * *pos past its end tag. Returns 1 when found, 0 when there is none,
 * -1 when the element has no end tag. */
int s3xml_next(const char *doc, size_t len, size_t *pos, const char *tag, size_t *start, size_t *n);

/* Decodes the text s[0..n) (&amp; &lt; &gt; &quot; &apos; &#N; &#xN;)
 * into a new NUL-terminated string of at most max bytes. Returns -1 on
 * an unknown or malformed entity, a NUL, markup ('<') or a value longer
 * than max. */
int s3xml_text(const char *s, size_t n, size_t max, char **out);

/* The decoded text of the first <tag> in doc[0..len): 1 found (new
 * string in *out), 0 absent, -1 malformed or longer than max. */
int s3xml_get(const char *doc, size_t len, const char *tag, size_t max, char **out);

#endif
