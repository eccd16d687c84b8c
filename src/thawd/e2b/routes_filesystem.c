/* The E2B front's routes for envd's filesystem.Filesystem service and its REST /files and /health. Columns as in
 * src/thawd/api/routes.c: method, pattern, handler, public, body_to_file,
 * max_body, admin only.
 *
 * The data plane carries no API key: the sandbox's access token stands
 * for its owner's (e2b_find_key), and each handler checks it against the
 * sandbox it acts on (e2b_sandbox_of). /files is public: a signed URL
 * (files_signed.c) carries no header at all; its handlers check the
 * token or the signature themselves, and POST /files's body is stored
 * only when one of them holds (e2b_files_public_body). */
#include "e2b/e2b.h"
#include "e2b/files.h"

#define FS "/filesystem.Filesystem/"

const struct api_route e2b_filesystem_routes[] = {
	{ "POST", FS "Stat", e2b_fs_stat, false, false, API_CONTROL_BODY, false },
	{ "POST", FS "MakeDir", e2b_fs_make_dir, false, false, API_CONTROL_BODY, false },
	{ "POST", FS "Move", e2b_fs_move, false, false, API_CONTROL_BODY, false },
	{ "POST", FS "ListDir", e2b_fs_list_dir, false, false, API_CONTROL_BODY, false },
	{ "POST", FS "Remove", e2b_fs_remove, false, false, API_CONTROL_BODY, false },
	{ "POST", FS "WatchDir", e2b_fs_watch_dir, false, false, API_CONTROL_BODY, false },
	{ "POST", FS "CreateWatcher", e2b_fs_create_watcher, false, false, API_CONTROL_BODY, false },
	{ "POST", FS "GetWatcherEvents", e2b_fs_get_watcher_events, false, false, API_CONTROL_BODY,
	  false },
	{ "POST", FS "RemoveWatcher", e2b_fs_remove_watcher, false, false, API_CONTROL_BODY, false },
	{ "GET", "/files", e2b_files_get, true, false, API_NO_BODY, false },
	{ "POST", "/files", e2b_files_post, true, true, 0, false },
	{ "GET", "/health", e2b_health, false, false, API_NO_BODY, false },
};
const size_t e2b_filesystem_route_count =
	sizeof(e2b_filesystem_routes) / sizeof(e2b_filesystem_routes[0]);
