// Almost everything in CLiburing is a static inline function in include/CLiburing.h; this
// translation unit holds the one function that needs _GNU_SOURCE before any include.
#define _GNU_SOURCE
#include <spawn.h>
#include "CLiburing.h"

int CLiburing_spawn_add_chdir(posix_spawn_file_actions_t *actions, const char *path) {
    return posix_spawn_file_actions_addchdir_np(actions, path);
}
