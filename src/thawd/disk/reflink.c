#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "cleanup.h"
#include "disk.h"

static int reflink_clone(const char *src, const char *dst, struct thaw_err **err)
{
	_cleanup_close_ int in = open(src, O_RDONLY | O_CLOEXEC);
	if (in < 0)
		return err_sys(err, "opening %s", src);
	_cleanup_close_ int out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (out < 0)
		return err_sys(err, "creating %s", dst);
	if (ioctl(out, FICLONE, in) < 0) {
		err_sys(err, "reflinking %s to %s", src, dst);
		unlink(dst);
		return -1;
	}
	return 0;
}

const struct disk_ops disk_reflink_ops = {
	.name = "reflink",
	.clone = reflink_clone,
};
