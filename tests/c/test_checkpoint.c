/* Tests of the checkpoint directory protocol: commit, resolve, verify and
 * prune; crash safety (a child saving in a loop is SIGKILLed at random
 * moments and the last committed checkpoint must verify and hold exactly its
 * iteration's data); corruption (a flipped byte or a truncated file in every
 * kind of file is rejected, naming the file); and a full disk (the Nth write
 * of a save fails: error, and the previous checkpoint stays `latest`). */
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "ckpt/checkpoint.h"
#include "core/file.h"
#include "core/json.h"
#include "core/log.h"

static char root[256];

/* A toy parameter table: ~1 MB of parameters, ~3 MB per checkpoint with the
 * two optimizer states. */
enum { ROWS = 512, COLS = 500 };
static agpt_param params[2];
static agpt_param_table table;

static void make_table(void) {
  memset(params, 0, sizeof params);
  snprintf(params[0].name, sizeof params[0].name, "model.embed_tokens.weight");
  params[0].ndim = 2, params[0].shape[0] = ROWS, params[0].shape[1] = COLS, params[0].numel = ROWS * COLS;
  snprintf(params[1].name, sizeof params[1].name, "model.norm.weight");
  params[1].ndim = 1, params[1].shape[0] = COLS, params[1].numel = COLS;
  params[1].offset = (params[0].numel + 15) / 16 * 16;
  table.params = params;
  table.n = 2;
  table.total = params[1].offset + (COLS + 15) / 16 * 16;
}

/* Values of state s (0 params, 1 exp_avg, 2 exp_avg_sq) at iteration k:
 * integers below 2^24, so exact in float32. */
static float value(int64_t k, int s, size_t i) { return (float)((k * 7919 + (int64_t)s * 104729 + (int64_t)i) % 9999991); }

static void fill(float *buf, int64_t k, int s) {
  for (size_t i = 0; i < table.total; i++) buf[i] = value(k, s, i);
}

static agpt_status save(const char *save_dir, int64_t it, int64_t data_k, int keep_last) {
  float *w = malloc(table.total * sizeof *w), *m = malloc(table.total * sizeof *m), *v = malloc(table.total * sizeof *v);
  fill(w, data_k, 0);
  fill(m, data_k, 1);
  fill(v, data_k, 2);
  char state[128];
  snprintf(state, sizeof state, "{\"iteration\": %lld, \"data\": %lld}\n", (long long)it, (long long)data_k);
  const char *config = "{\"model_type\": \"llama\", \"hidden_size\": 500}\n";
  agpt_st_table_part model = {"", w}, optim[2] = {{"exp_avg.", m}, {"exp_avg_sq.", v}};
  agpt_st_meta meta = {"format", "pt"};
  agpt_ckpt_writer *cw = NULL;
  agpt_status st = agpt_ckpt_begin(save_dir, it, &cw);
  if (st == AGPT_OK) st = agpt_ckpt_add_table(cw, "model.safetensors", &table, &model, 1, &meta, 1);
  if (st == AGPT_OK) st = agpt_ckpt_add_table(cw, "optim.safetensors", &table, optim, 2, NULL, 0);
  if (st == AGPT_OK) st = agpt_ckpt_add_file(cw, "config.json", config, strlen(config));
  if (st == AGPT_OK) st = agpt_ckpt_add_file(cw, "state.json", state, strlen(state));
  if (st == AGPT_OK)
    st = agpt_ckpt_commit(cw, keep_last);
  else
    agpt_ckpt_abort(cw);
  free(w);
  free(m);
  free(v);
  return st;
}

/* Loads everything from dir and compares with iteration k's data. */
static int holds(const char *dir, int64_t k) {
  int ok = agpt_ckpt_verify(dir) == AGPT_OK;
  if (!ok) fprintf(stderr, "verify %s: %s\n", dir, agpt_errmsg());
  float *buf = malloc(table.total * sizeof *buf);
  const char *files[3] = {"model.safetensors", "optim.safetensors", "optim.safetensors"};
  const char *prefixes[3] = {"", "exp_avg.", "exp_avg_sq."};
  for (int s = 0; s < 3 && ok; s++) {
    if (agpt_ckpt_read_table(dir, files[s], &table, prefixes[s], buf) != AGPT_OK) {
      fprintf(stderr, "read %s: %s\n", dir, agpt_errmsg());
      ok = 0;
      break;
    }
    for (int p = 0; p < table.n && ok; p++)
      for (size_t i = 0; i < params[p].numel; i++) {
        size_t at = params[p].offset + i;
        if (buf[at] != value(k, s, at)) {
          fprintf(stderr, "%s: state %d element %zu is %g, expected %g (iteration %lld)\n", dir, s, at, buf[at],
                  value(k, s, at), (long long)k);
          ok = 0;
          break;
        }
      }
  }
  free(buf);
  char *text;
  size_t n;
  if (ok && agpt_ckpt_read_file(dir, "state.json", &text, &n) == AGPT_OK) {
    agpt_json *j;
    int64_t data = -1;
    if (agpt_json_parse(text, n, &j) == AGPT_OK) {
      agpt_json_int(agpt_json_get(j, "data"), &data);
      agpt_json_free(j);
    }
    free(text);
    if (data != k) {
      fprintf(stderr, "%s: state.json says data %lld, expected %lld\n", dir, (long long)data, (long long)k);
      ok = 0;
    }
  } else if (ok) {
    fprintf(stderr, "read state.json: %s\n", agpt_errmsg());
    ok = 0;
  }
  return ok;
}

/* Entries of dir whose name contains needle (or starts with it, for "^..."). */
static int count_entries(const char *dir, const char *needle) {
  DIR *d = opendir(dir);
  if (!d) return -1;
  int c = 0, anchored = needle[0] == '^';
  if (anchored) needle++;
  struct dirent *e;
  while ((e = readdir(d)))
    if (anchored ? !strncmp(e->d_name, needle, strlen(needle)) : strstr(e->d_name, needle) != NULL) c++;
  closedir(d);
  return c;
}

static int exists_in(const char *dir, const char *name) {
  char p[600];
  snprintf(p, sizeof p, "%s/%s", dir, name);
  return agpt_file_exists(p);
}

static void test_commit_resolve_prune(void) {
  char sd[512], dir[1024];
  snprintf(sd, sizeof sd, "%s/basic/save", root); /* created by begin, parents included */
  int64_t it = -5;
  for (int64_t k = 10; k <= 40; k += 10) CHECK(save(sd, k, k, 2) == AGPT_OK);
  CHECK(exists_in(sd, "iter_0000030") && exists_in(sd, "iter_0000040"));
  CHECK(!exists_in(sd, "iter_0000010") && !exists_in(sd, "iter_0000020"));
  CHECK(count_entries(sd, "tmp") == 0);
  char *latest;
  size_t n;
  char lp[600];
  snprintf(lp, sizeof lp, "%s/latest", sd);
  CHECK(agpt_file_read_all(lp, &latest, &n) == AGPT_OK && !strcmp(latest, "iter_0000040\n"));
  free(latest);
  CHECK(agpt_ckpt_resolve(sd, dir, sizeof dir, &it) == AGPT_OK && it == 40);
  CHECK(strstr(dir, "/iter_0000040") != NULL && holds(dir, 40));
  char d30[600];
  snprintf(d30, sizeof d30, "%s/iter_0000030", sd);
  CHECK(agpt_ckpt_resolve(d30, dir, sizeof dir, &it) == AGPT_OK && it == 30 && holds(dir, 30));
  CHECK(agpt_ckpt_resolve(sd, dir, 8, &it) == AGPT_ERR); /* too small a buffer */

  /* the manifest lists every file with its size */
  char mp[600];
  snprintf(mp, sizeof mp, "%s/iter_0000040/manifest.json", sd);
  char *mtext;
  CHECK(agpt_file_read_all(mp, &mtext, &n) == AGPT_OK);
  agpt_json *mj = NULL;
  CHECK(agpt_json_parse(mtext, n, &mj) == AGPT_OK);
  const agpt_json *files = agpt_json_get(mj, "files");
  CHECK(agpt_json_len(files) == 4);
  int64_t iter_field = 0;
  CHECK(agpt_json_int(agpt_json_get(mj, "iteration"), &iter_field) == AGPT_OK && iter_field == 40);
  for (size_t i = 0; i < agpt_json_len(files); i++) {
    const char *name = agpt_json_str(agpt_json_get(agpt_json_at(files, i), "name"), NULL);
    int64_t size = -1;
    agpt_json_int(agpt_json_get(agpt_json_at(files, i), "size"), &size);
    char fp[700];
    snprintf(fp, sizeof fp, "%s/iter_0000040/%s", sd, name ? name : "");
    struct stat sb;
    CHECK(name && stat(fp, &sb) == 0 && sb.st_size == size);
  }
  agpt_json_free(mj);
  free(mtext);

  /* re-saving an existing iteration replaces it whole */
  CHECK(save(sd, 40, 41, 2) == AGPT_OK);
  CHECK(agpt_ckpt_resolve(sd, dir, sizeof dir, &it) == AGPT_OK && it == 40 && holds(dir, 41));
  CHECK(exists_in(sd, "iter_0000030") && count_entries(sd, "tmp") == 0);

  /* an older iteration committed later becomes latest and survives pruning */
  CHECK(save(sd, 35, 35, 2) == AGPT_OK);
  CHECK(agpt_ckpt_resolve(sd, dir, sizeof dir, &it) == AGPT_OK && it == 35 && holds(dir, 35));
  CHECK(exists_in(sd, "iter_0000040") && !exists_in(sd, "iter_0000030"));

  /* keep_last <= 0 keeps everything */
  char sd2[512];
  snprintf(sd2, sizeof sd2, "%s/keepall", root);
  for (int64_t k = 1; k <= 3; k++) CHECK(save(sd2, k, k, 0) == AGPT_OK);
  CHECK(count_entries(sd2, "^iter_") == 3);
  CHECK(save(sd2, 4, 4, 1) == AGPT_OK);
  CHECK(count_entries(sd2, "^iter_") == 1 && exists_in(sd2, "iter_0000004"));

  /* abort leaves nothing behind */
  agpt_ckpt_writer *w = NULL;
  CHECK(agpt_ckpt_begin(sd2, 5, &w) == AGPT_OK);
  CHECK(agpt_ckpt_add_file(w, "x.json", "{}", 2) == AGPT_OK);
  CHECK(count_entries(sd2, "tmp") == 1);
  CHECK(agpt_ckpt_add_file(w, "x.json", "{}", 2) == AGPT_ERR && strstr(agpt_errmsg(), "added twice"));
  CHECK(agpt_ckpt_add_file(w, "a/b", "{}", 2) == AGPT_ERR && strstr(agpt_errmsg(), "not a valid"));
  CHECK(agpt_ckpt_add_file(w, "manifest.json", "{}", 2) == AGPT_ERR);
  CHECK(agpt_ckpt_add_file(w, ".hidden", "{}", 2) == AGPT_ERR);
  agpt_ckpt_abort(w);
  CHECK(count_entries(sd2, "tmp") == 0);
  CHECK(agpt_ckpt_resolve(sd2, dir, sizeof dir, &it) == AGPT_OK && it == 4);
  CHECK(agpt_ckpt_begin(sd2, -1, &w) == AGPT_ERR && w == NULL);

  /* a stale leftover of a crashed save is removed by the next commit */
  char stale[600];
  snprintf(stale, sizeof stale, "%s/iter_0000009.tmp.999999", sd2);
  CHECK(agpt_mkdir_p(stale) == AGPT_OK);
  CHECK(save(sd2, 6, 6, 2) == AGPT_OK);
  CHECK(!agpt_file_exists(stale) && count_entries(sd2, "tmp") == 0);

  /* resolve errors: each names the path and says what to do */
  char empty[512];
  snprintf(empty, sizeof empty, "%s/empty", root);
  agpt_mkdir_p(empty);
  CHECK(agpt_ckpt_resolve(empty, dir, sizeof dir, &it) == AGPT_ERR && strstr(agpt_errmsg(), empty) &&
        strstr(agpt_errmsg(), "no `latest` file"));
  char nothere[512];
  snprintf(nothere, sizeof nothere, "%s/nothere", root);
  CHECK(agpt_ckpt_resolve(nothere, dir, sizeof dir, &it) == AGPT_ERR && strstr(agpt_errmsg(), "cannot open"));
  snprintf(lp, sizeof lp, "%s/latest", empty);
  CHECK(agpt_file_write_atomic(lp, "iter_0000099\n", 13) == AGPT_OK);
  CHECK(agpt_ckpt_resolve(empty, dir, sizeof dir, &it) == AGPT_ERR && strstr(agpt_errmsg(), "iter_0000099") &&
        strstr(agpt_errmsg(), "does not exist"));
  CHECK(agpt_file_write_atomic(lp, "../../etc\n", 10) == AGPT_OK);
  CHECK(agpt_ckpt_resolve(empty, dir, sizeof dir, &it) == AGPT_ERR && strstr(agpt_errmsg(), "expected one line"));
  /* latest naming a directory that is not a committed checkpoint */
  CHECK(agpt_file_write_atomic(lp, "iter_0000007", 12) == AGPT_OK);
  snprintf(stale, sizeof stale, "%s/iter_0000007", empty);
  agpt_mkdir_p(stale);
  CHECK(agpt_ckpt_resolve(empty, dir, sizeof dir, &it) == AGPT_ERR && strstr(agpt_errmsg(), "manifest.json: missing"));
}

/* Child: saves iterations start, start+1, ... until killed. */
static AGPT_NORETURN void saver_loop(const char *sd, int64_t start) {
  for (int64_t k = start;; k++)
    if (save(sd, k, k, 2) != AGPT_OK) {
      fprintf(stderr, "child: save %lld failed: %s\n", (long long)k, agpt_errmsg());
      _exit(3);
    }
}

static void test_crash(void) {
  char sd[512], dir[1024];
  snprintf(sd, sizeof sd, "%s/crash", root);
  int64_t next = 1, it = -1;
  CHECK(save(sd, 0, 0, 2) == AGPT_OK);
  unsigned seed = 12345;
  int rounds = 8, progressed = 0;
  for (int r = 0; r < rounds; r++) {
    /* delays from 0.1 ms to ~120 ms: inside the first save, between saves, deep in a loop */
    unsigned delay_us = r % 3 == 0 ? 100 + (unsigned)(rand_r(&seed) % 3000) : 1000 + (unsigned)(rand_r(&seed) % 120000);
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) saver_loop(sd, next);
    CHECK(pid > 0);
    if (pid < 0) return;
    usleep(delay_us);
    kill(pid, SIGKILL);
    int status = 0;
    waitpid(pid, &status, 0);
    CHECK_MSG(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL, "round %d: the child died on its own (status %d)",
              r, status);
    CHECK_MSG(agpt_ckpt_resolve(sd, dir, sizeof dir, &it) == AGPT_OK, "round %d: %s", r, agpt_errmsg());
    CHECK_MSG(it >= next - 1, "round %d: latest went back to %lld", r, (long long)it);
    CHECK_MSG(holds(dir, it), "round %d: iteration %lld", r, (long long)it);
    if (it >= next) progressed++;
    /* a new save after the crash works and cleans up what the crash left */
    CHECK(save(sd, it + 1, it + 1, 2) == AGPT_OK);
    CHECK(agpt_ckpt_resolve(sd, dir, sizeof dir, &it) == AGPT_OK && holds(dir, it));
    CHECK(count_entries(sd, "tmp") == 0);
    next = it + 1;
  }
  printf("crash: %d rounds, %d killed after committing new checkpoints, last iteration %lld\n", rounds, progressed,
         (long long)it);
}

static int rewrite(const char *path, const char *data, size_t n) {
  FILE *fp = fopen(path, "wb");
  if (!fp) return 0;
  size_t w = fwrite(data, 1, n, fp);
  return fclose(fp) == 0 && w == n;
}

/* verify must fail and the message must contain both strings */
static int verify_fails(const char *dir, const char *a, const char *b) {
  agpt_err_clear();
  if (agpt_ckpt_verify(dir) == AGPT_OK) return 0;
  if (!strstr(agpt_errmsg(), a) || (b && !strstr(agpt_errmsg(), b))) {
    fprintf(stderr, "message \"%s\" lacks \"%s\" / \"%s\"\n", agpt_errmsg(), a, b ? b : "");
    return 0;
  }
  return 1;
}

static void test_corruption(void) {
  char sd[512], dir[1024];
  snprintf(sd, sizeof sd, "%s/corrupt", root);
  CHECK(save(sd, 7, 7, 2) == AGPT_OK);
  int64_t it;
  CHECK(agpt_ckpt_resolve(sd, dir, sizeof dir, &it) == AGPT_OK && agpt_ckpt_verify(dir) == AGPT_OK);
  const char *names[] = {"model.safetensors", "optim.safetensors", "config.json", "state.json", "manifest.json"};
  for (size_t f = 0; f < sizeof names / sizeof names[0]; f++) {
    char path[1200];
    snprintf(path, sizeof path, "%s/%s", dir, names[f]);
    char *orig;
    size_t n;
    if (agpt_file_read_all(path, &orig, &n) != AGPT_OK) {
      CHECK(0);
      continue;
    }
    int is_manifest = !strcmp(names[f], "manifest.json");
    size_t at[3] = {0, n / 2, n - 1};
    for (int a = 0; a < 3; a++) {
      orig[at[a]] ^= 0x01;
      CHECK(rewrite(path, orig, n));
      CHECK_MSG(verify_fails(dir, path, is_manifest ? NULL : "CRC-32C"), "%s: flipped byte %zu", names[f], at[a]);
      orig[at[a]] ^= 0x01;
    }
    /* a truncated file */
    CHECK(rewrite(path, orig, n - 1));
    CHECK_MSG(verify_fails(dir, path, is_manifest ? NULL : "size"), "%s truncated", names[f]);
    /* a missing file */
    unlink(path);
    CHECK_MSG(verify_fails(dir, path, "missing"), "%s missing", names[f]);
    CHECK(rewrite(path, orig, n));
    CHECK(agpt_ckpt_verify(dir) == AGPT_OK);
    free(orig);
  }
  /* readers check before use: a corrupted tensor file is never loaded */
  char path[1200];
  snprintf(path, sizeof path, "%s/model.safetensors", dir);
  char *orig;
  size_t n;
  CHECK(agpt_file_read_all(path, &orig, &n) == AGPT_OK);
  orig[n - 3] ^= 0x40; /* inside the data: the safetensors header stays valid */
  CHECK(rewrite(path, orig, n));
  float *buf = calloc(table.total, sizeof *buf);
  CHECK(agpt_ckpt_read_table(dir, "model.safetensors", &table, "", buf) == AGPT_ERR &&
        strstr(agpt_errmsg(), "model.safetensors") && strstr(agpt_errmsg(), "CRC-32C"));
  agpt_st_file *sf = NULL;
  CHECK(agpt_ckpt_open_safetensors(dir, "model.safetensors", &sf) == AGPT_ERR && sf == NULL);
  orig[n - 3] ^= 0x40;
  CHECK(rewrite(path, orig, n));
  free(orig);
  char *text = NULL;
  CHECK(agpt_ckpt_read_file(dir, "absent.json", &text, &n) == AGPT_ERR && strstr(agpt_errmsg(), "not listed"));
  snprintf(path, sizeof path, "%s/state.json", dir);
  CHECK(rewrite(path, "{\"iteration\": 8}\n", 17));
  CHECK(agpt_ckpt_read_file(dir, "state.json", &text, &n) == AGPT_ERR && text == NULL &&
        strstr(agpt_errmsg(), "state.json"));
  /* a corrupted manifest stops resolve itself */
  snprintf(path, sizeof path, "%s/manifest.json", dir);
  CHECK(agpt_file_read_all(path, &orig, &n) == AGPT_OK);
  char *iter_field = strstr(orig, "\"iteration\": 7");
  if (iter_field) iter_field[13] = '8';
  CHECK(iter_field && rewrite(path, orig, n));
  CHECK(agpt_ckpt_resolve(sd, dir, sizeof dir, &it) == AGPT_ERR && strstr(agpt_errmsg(), "manifest.json") &&
        strstr(agpt_errmsg(), "CRC-32C"));
  free(orig);
  free(buf);
}

static void test_disk_full(void) {
  char sd[512], dir[1024];
  snprintf(sd, sizeof sd, "%s/full", root);
  CHECK(save(sd, 100, 100, 0) == AGPT_OK);
  int failures = 0, succeeded = 0;
  for (long nth = 1; nth <= 40 && !succeeded; nth++) {
    agpt_fault_set_write(nth);
    agpt_status st = save(sd, 200 + nth, 200 + nth, 0);
    agpt_fault_set_write(0);
    int64_t it = -1;
    if (st == AGPT_OK) {
      succeeded = 1;
      CHECK(agpt_ckpt_resolve(sd, dir, sizeof dir, &it) == AGPT_OK && it == 200 + nth && holds(dir, it));
      break;
    }
    failures++;
    CHECK_MSG(strstr(agpt_errmsg(), "AGPT_FAULT_WRITE") != NULL, "write %ld: %s", nth, agpt_errmsg());
    CHECK_MSG(agpt_ckpt_resolve(sd, dir, sizeof dir, &it) == AGPT_OK && it == 100 && holds(dir, 100),
              "write %ld failed, then latest is %lld", nth, (long long)it);
    CHECK(count_entries(sd, "tmp") == 0);
  }
  /* writes of one save: 2 safetensors files (header length, header, tensors),
   * config, state, manifest, latest */
  CHECK_MSG(failures == 4 + 6 + 1 + 1 + 1 + 1, "%d injected failures", failures);
  CHECK(succeeded);
}

int main(void) {
  agpt_log_set_quiet(1);
  make_table();
  const char *tmp = getenv("TMPDIR");
  snprintf(root, sizeof root, "%s/agpt_test_ckpt_XXXXXX", tmp && *tmp ? tmp : "/tmp");
  if (!mkdtemp(root)) {
    perror("mkdtemp");
    return 1;
  }
  test_commit_resolve_prune();
  test_corruption();
  test_disk_full();
  test_crash();
  agpt_rm_rf(root);
  return check_done("test_checkpoint");
}
