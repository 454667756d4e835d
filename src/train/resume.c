/* See resume.h for the rules. */
#include "train/resume.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "ckpt/checkpoint.h"
#include "ckpt/model_json.h"
#include "core/json.h"
#include "core/log.h"

/* Both paths exist and are the same directory. */
static int same_dir(const char *a, const char *b) {
  struct stat sa, sb;
  if (stat(a, &sa) != 0 || stat(b, &sb) != 0) return !strcmp(a, b);
  return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

/* load is S itself, or the directory S's `latest` names. */
static int continues_latest(const char *save, const char *load, int64_t latest) {
  if (same_dir(load, save)) return 1;
  char dir[4200];
  int64_t it;
  if (agpt_ckpt_resolve(save, dir, sizeof dir, &it) != AGPT_OK) {
    agpt_err_clear();
    return 0;
  }
  return it == latest && same_dir(load, dir);
}

/* "iter_0000100, iter_0000200 and 3 more" for messages (up to 4 names). */
static void describe(const agpt_ckpt_listing *l, agpt_sb *sb) {
  int shown = l->n < 4 ? l->n : 4;
  for (int i = 0; i < shown; i++) agpt_sb_printf(sb, "%s%s", i ? ", " : "", l->dirs[i].name);
  if (l->n > shown) agpt_sb_printf(sb, " and %d more", l->n - shown);
  agpt_sb_put(sb, "", 1);
}

static agpt_status recover(const char *where, agpt_resume_plan *out) {
  AGPT_TRY(agpt_ckpt_recover(where, out->dir, sizeof out->dir, &out->iteration));
  agpt_log_warn("--recover-latest: resuming from %s, the newest checkpoint in %s whose files all verify", out->dir,
                where);
  return AGPT_OK;
}

agpt_status agpt_resume_plan_make(const char *save, const char *load, int recover_flag, agpt_resume_plan *out) {
  memset(out, 0, sizeof *out);
  out->iteration = -1;
  if (!save) {
    if (recover_flag) {
      if (!load) return agpt_fail("--recover-latest: needs --save (or --load) naming the directory to recover");
      return recover(load, out);
    }
    if (load) AGPT_TRY(agpt_ckpt_resolve(load, out->dir, sizeof out->dir, &out->iteration));
    return AGPT_OK;
  }
  if (recover_flag && load && !same_dir(load, save))
    return agpt_fail("--recover-latest resumes from --save %s, but --load names %s: drop --load, or give the same "
                     "directory to both",
                     save, load);
  agpt_ckpt_listing l;
  AGPT_TRY(agpt_ckpt_list(save, &l));
  agpt_status st = AGPT_OK;
  agpt_sb names = {0};
  describe(&l, &names);
  if (recover_flag) {
    st = recover(save, out);
  } else if (l.n == 0 && l.latest == -1) { /* rule 1 */
    if (load && !same_dir(load, save))
      st = agpt_ckpt_resolve(load, out->dir, sizeof out->dir, &out->iteration);
  } else if (l.latest < 0) { /* rule 4 */
    st = agpt_fail("--save %s holds checkpoints (%s) but %s (deleted, or lost by the file system); "
                   "refusing to write into it, which would replace or prune them. Resume from its newest complete "
                   "checkpoint with --recover-latest, or choose another --save directory",
                   save, l.n ? names.data : "none", l.latest == -1 ? "no `latest` file" : "an unreadable `latest` file");
  } else if (!load || !continues_latest(save, load, l.latest)) { /* rule 3 */
    st = agpt_fail("--save %s already holds a run (`latest` names iter_%07lld; checkpoints: %s); refusing to write "
                   "into it, which would replace or prune its checkpoints. Resume that run with --load %s, or choose "
                   "another --save directory",
                   save, (long long)l.latest, l.n ? names.data : "none", save);
  } else { /* rule 2 */
    st = agpt_ckpt_resolve(save, out->dir, sizeof out->dir, &out->iteration);
    if (st == AGPT_OK && !same_dir(load, save) && !same_dir(load, out->dir))
      st = agpt_fail("--load %s: `latest` of --save %s changed while starting", load, save);
    if (st != AGPT_OK) {
      char why[1024];
      snprintf(why, sizeof why, "%s", agpt_errmsg());
      st = agpt_fail("%s; to resume from the newest checkpoint in %s whose files verify, add --recover-latest", why,
                     save);
    } else {
      out->from_latest = 1;
      for (int i = 0; i < l.n && l.dirs[i].iteration > out->iteration; i++)
        agpt_log_warn("--save %s: %s is newer than `latest` (iter_%07lld): a save interrupted before `latest` was "
                      "updated; this run resumes from `latest` and will replace it",
                      save, l.dirs[i].name, (long long)out->iteration);
    }
  }
  agpt_sb_free(&names);
  agpt_ckpt_listing_free(&l);
  return st;
}

agpt_status agpt_resume_read_config(const char *dir, agpt_model_config *out) {
  char *text, path[4200];
  size_t n;
  AGPT_TRY(agpt_ckpt_read_file(dir, "config.json", &text, &n));
  snprintf(path, sizeof path, "%s/config.json", dir);
  agpt_status st = agpt_model_config_from_json(text, n, path, out);
  free(text);
  if (st == AGPT_OK) st = agpt_model_config_validate(out, path);
  return st;
}

agpt_status agpt_resume_read_state(const char *dir, int64_t iteration, int max_positions, agpt_train_state *out) {
  char *text, path[4200];
  size_t n;
  AGPT_TRY(agpt_ckpt_read_file(dir, "state.json", &text, &n));
  snprintf(path, sizeof path, "%s/state.json", dir);
  agpt_status st = agpt_train_state_parse(text, n, path, iteration, max_positions, out);
  free(text);
  return st;
}
