#include "core/supervisor.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "buf.h"
#include "fsutil.h"
#include "ids.h"
#include "log.h"

struct watch {
	int fd; /* our dup of the pidfd */
	char id[SANDBOX_ID_LEN + 1];
};

struct supervisor {
	supervisor_exit_fn on_exit;
	void *ud;
	int ep;
	int stop_fd;
	pthread_t thread;
	pthread_mutex_t lock;
	struct watch *w;
	size_t n;
};

static int take_watch(struct supervisor *s, int fd, char *id_out)
{
	int found = -1;
	pthread_mutex_lock(&s->lock);
	for (size_t i = 0; i < s->n; i++) {
		if (s->w[i].fd == fd) {
			memcpy(id_out, s->w[i].id, sizeof(s->w[i].id));
			epoll_ctl(s->ep, EPOLL_CTL_DEL, fd, NULL);
			close(fd);
			s->w[i] = s->w[--s->n];
			found = 0;
			break;
		}
	}
	pthread_mutex_unlock(&s->lock);
	return found;
}

static void *supervisor_main(void *arg)
{
	struct supervisor *s = arg;
	struct epoll_event ev[16];
	for (;;) {
		int n = epoll_wait(s->ep, ev, 16, -1);
		if (n < 0 && errno == EINTR)
			continue;
		for (int i = 0; i < n; i++) {
			if (ev[i].data.fd == s->stop_fd)
				return NULL;
			char id[SANDBOX_ID_LEN + 1];
			if (take_watch(s, ev[i].data.fd, id) == 0)
				s->on_exit(s->ud, id);
		}
	}
}

int supervisor_start(supervisor_exit_fn on_exit, void *ud, struct supervisor **out,
		     struct thaw_err **err)
{
	struct supervisor *s = xcalloc(1, sizeof(*s));
	s->on_exit = on_exit;
	s->ud = ud;
	pthread_mutex_init(&s->lock, NULL);
	s->ep = epoll_create1(EPOLL_CLOEXEC);
	s->stop_fd = eventfd(0, EFD_CLOEXEC);
	struct epoll_event e = { .events = EPOLLIN, .data.fd = s->stop_fd };
	if (s->ep < 0 || s->stop_fd < 0 || epoll_ctl(s->ep, EPOLL_CTL_ADD, s->stop_fd, &e) < 0) {
		err_sys(err, "setting up the VMM supervisor");
		goto fail;
	}
	int rc = pthread_create(&s->thread, NULL, supervisor_main, s);
	if (rc != 0) {
		errno = rc;
		err_sys(err, "starting the VMM supervisor");
		goto fail;
	}
	*out = s;
	return 0;
fail:
	if (s->ep >= 0)
		close(s->ep);
	if (s->stop_fd >= 0)
		close(s->stop_fd);
	free(s);
	return -1;
}

void supervisor_stop(struct supervisor *s)
{
	if (!s)
		return;
	uint64_t one = 1;
	if (write(s->stop_fd, &one, sizeof(one)) < 0)
		log_warn("supervisor.stop", "errno=%d", errno);
	pthread_join(s->thread, NULL);
	for (size_t i = 0; i < s->n; i++)
		close(s->w[i].fd);
	free(s->w);
	close(s->ep);
	close(s->stop_fd);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

int supervisor_watch(struct supervisor *s, const char *id, int pidfd, struct thaw_err **err)
{
	int fd = fd_keep_high(fcntl(pidfd, F_DUPFD_CLOEXEC, 3));
	if (fd < 0)
		return err_sys(err, "duplicating pidfd");
	pthread_mutex_lock(&s->lock);
	struct epoll_event e = { .events = EPOLLIN, .data.fd = fd };
	int rc = epoll_ctl(s->ep, EPOLL_CTL_ADD, fd, &e);
	if (rc == 0) {
		s->w = xrealloc(s->w, (s->n + 1) * sizeof(*s->w));
		s->w[s->n].fd = fd;
		snprintf(s->w[s->n].id, sizeof(s->w[s->n].id), "%s", id);
		s->n++;
	}
	pthread_mutex_unlock(&s->lock);
	if (rc < 0) {
		close(fd);
		return err_sys(err, "watching VMM of %s", id);
	}
	return 0;
}

void supervisor_unwatch(struct supervisor *s, const char *id)
{
	pthread_mutex_lock(&s->lock);
	for (size_t i = 0; i < s->n; i++) {
		if (strcmp(s->w[i].id, id) == 0) {
			epoll_ctl(s->ep, EPOLL_CTL_DEL, s->w[i].fd, NULL);
			close(s->w[i].fd);
			s->w[i] = s->w[--s->n];
			break;
		}
	}
	pthread_mutex_unlock(&s->lock);
}
