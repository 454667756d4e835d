/* The checkpoint directory protocol; the design note and invariants are in
 * checkpoint.h. */
#include "ckpt/checkpoint.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/file.h"
#include "core/json.h"
#include "core/log.h"

enum { PATH_CAP = 4096, LATEST_MAX = 256 };

static const char MANIFEST[] = "manifest.json";
static const char CRC_LINE[] = "  \"manifest_crc32c\": \"";
/* CRC_LINE + 8 hex digits + this */
static const char CRC_END[] = "\"\n}\n";

typedef struct {
  char *name;
  uint64_t size;
  uint32_t crc;
} entry;

struct agpt_ckpt_writer {
  char *save_dir;
  char *tmp;   /* SAVE_DIR/iter_N.tmp.<pid> */
  char *final; /* SAVE_DIR/iter_N */
  char base[64]; /* iter_N */
  int64_t iteration;
  entry *files;
  int n, cap;
  int failed;
};

typedef struct {
  int64_t iteration;
  entry *files;
  int n;
} manifest;

static void manifest_free(manifest *m) {
  for (int i = 0; i < m->n; i++) free(m->files[i].name);
  free(m->files);
  m->files = NULL;
  m->n = 0;
}

static int join(char *out, size_t cap, const char *a, const char *b) {
  return snprintf(out, cap, "%s/%s", a, b) < (int)cap;
}

/* A plain file name: no path separators, no hidden names, not the manifest. */
static int plain_name(const char *name) {
  return name && name[0] && name[0] != '.' && !strchr(name, '/') && strlen(name) < 256 && strcmp(name, MANIFEST);
}

/* ---- writing ---- */

static void writer_free(agpt_ckpt_writer *w) {
  for (int i = 0; i < w->n; i++) free(w->files[i].name);
  free(w->files);
  free(w->tmp);
  free(w->final);
  free(w->save_dir);
  free(w);
}

agpt_status agpt_ckpt_begin(const char *save_dir, int64_t iteration, agpt_ckpt_writer **out) {
  *out = NULL;
  if (iteration < 0) return agpt_fail("%s: checkpoint iteration %lld is negative", save_dir, (long long)iteration);
  AGPT_TRY(agpt_mkdir_p(save_dir));
  agpt_ckpt_writer *w = agpt_xcalloc(1, sizeof *w);
  w->save_dir = agpt_xstrdup(save_dir);
  w->iteration = iteration;
  snprintf(w->base, sizeof w->base, "iter_%07lld", (long long)iteration);
  size_t cap = strlen(save_dir) + 128;
  w->tmp = agpt_xmalloc(cap);
  w->final = agpt_xmalloc(cap);
  snprintf(w->tmp, cap, "%s/%s.tmp.%ld", save_dir, w->base, (long)getpid());
  snprintf(w->final, cap, "%s/%s", save_dir, w->base);
  /* a leftover of an earlier attempt by this same pid */
  agpt_status st = agpt_rm_rf(w->tmp);
  if (st == AGPT_OK && mkdir(w->tmp, 0755) != 0)
    st = agpt_fail("%s: cannot create directory: %s (check that %s is writable)", w->tmp, strerror(errno), save_dir);
  if (st != AGPT_OK) {
    writer_free(w);
    return AGPT_ERR;
  }
  *out = w;
  return AGPT_OK;
}

const char *agpt_ckpt_writer_dir(const agpt_ckpt_writer *w) { return w->tmp; }

static agpt_status check_add(agpt_ckpt_writer *w, const char *name, char *path, size_t cap) {
  if (w->failed) return agpt_fail("%s: an earlier write of this checkpoint failed (abort the save)", w->tmp);
  if (!plain_name(name))
    return agpt_fail("%s: \"%s\" is not a valid checkpoint file name (a plain name, not manifest.json)", w->tmp,
                     name ? name : "(null)");
  for (int i = 0; i < w->n; i++)
    if (!strcmp(w->files[i].name, name)) return agpt_fail("%s: file %s added twice", w->tmp, name);
  if (!join(path, cap, w->tmp, name)) return agpt_fail("%s/%s: path too long", w->tmp, name);
  return AGPT_OK;
}

static void record(agpt_ckpt_writer *w, const char *name, uint64_t size, uint32_t crc) {
  if (w->n == w->cap) {
    w->cap = w->cap ? 2 * w->cap : 8;
    w->files = agpt_xrealloc(w->files, (size_t)w->cap * sizeof *w->files);
  }
  w->files[w->n++] = (entry){agpt_xstrdup(name), size, crc};
}

agpt_status agpt_ckpt_add_file(agpt_ckpt_writer *w, const char *name, const void *data, size_t n) {
  char path[PATH_CAP];
  AGPT_TRY(check_add(w, name, path, sizeof path));
  if (agpt_file_write_atomic(path, data, n) != AGPT_OK) {
    w->failed = 1;
    return AGPT_ERR;
  }
  record(w, name, n, agpt_crc32c(0, data, n));
  return AGPT_OK;
}

agpt_status agpt_ckpt_add_safetensors(agpt_ckpt_writer *w, const char *name, const agpt_st_tensor *tensors, int n,
                                      const agpt_st_meta *meta, int n_meta) {
  char path[PATH_CAP];
  AGPT_TRY(check_add(w, name, path, sizeof path));
  uint32_t crc;
  uint64_t size;
  if (agpt_st_write(path, tensors, n, meta, n_meta, &crc, &size) != AGPT_OK) {
    w->failed = 1;
    return AGPT_ERR;
  }
  record(w, name, size, crc);
  return AGPT_OK;
}

agpt_status agpt_ckpt_add_table(agpt_ckpt_writer *w, const char *name, const agpt_param_table *table,
                                const agpt_st_table_part *parts, int n_parts, const agpt_st_meta *meta, int n_meta) {
  char path[PATH_CAP];
  AGPT_TRY(check_add(w, name, path, sizeof path));
  uint32_t crc;
  uint64_t size;
  if (agpt_st_write_table(path, table, parts, n_parts, meta, n_meta, &crc, &size) != AGPT_OK) {
    w->failed = 1;
    return AGPT_ERR;
  }
  record(w, name, size, crc);
  return AGPT_OK;
}

void agpt_ckpt_abort(agpt_ckpt_writer *w) {
  if (!w) return;
  if (agpt_rm_rf(w->tmp) != AGPT_OK) agpt_log_warn("%s", agpt_errmsg());
  writer_free(w);
}

static void manifest_text(agpt_sb *sb, const agpt_ckpt_writer *w) {
  agpt_sb_printf(sb, "{\n  \"format\": \"agpt-checkpoint\",\n  \"version\": 1,\n  \"iteration\": %lld,\n  \"files\": [",
                 (long long)w->iteration);
  for (int i = 0; i < w->n; i++) {
    agpt_sb_puts(sb, i ? ",\n    {\"name\": " : "\n    {\"name\": ");
    agpt_sb_json_str(sb, w->files[i].name, strlen(w->files[i].name));
    agpt_sb_printf(sb, ", \"size\": %llu, \"crc32c\": \"%08x\"}", (unsigned long long)w->files[i].size,
                   (unsigned)w->files[i].crc);
  }
  agpt_sb_puts(sb, w->n ? "\n  ],\n" : "],\n");
  uint32_t crc = agpt_crc32c(0, sb->data, sb->len);
  agpt_sb_printf(sb, "%s%08x%s", CRC_LINE, (unsigned)crc, CRC_END);
}

/* Parses "iter_<digits>" exactly; returns the iteration or -1. */
static int64_t iter_of(const char *name) {
  if (strncmp(name, "iter_", 5) != 0 || !name[5]) return -1;
  int64_t v = 0;
  for (const char *p = name + 5; *p; p++) {
    if (*p < '0' || *p > '9' || v > (INT64_MAX - 9) / 10) return -1;
    v = v * 10 + (*p - '0');
  }
  return v;
}

static int is_leftover(const char *name) {
  return (!strncmp(name, "iter_", 5) || !strncmp(name, "latest", 6)) && strstr(name, ".tmp.");
}

static int cmp_dir_desc(const void *a, const void *b) {
  const agpt_ckpt_dir *x = a, *y = b;
  return x->iteration < y->iteration ? 1 : x->iteration > y->iteration ? -1 : strcmp(x->name, y->name);
}

/* Invariant 4: rename away, then delete. Failures are warnings. */
static void remove_dir_safely(const char *save_dir, const char *name, int rename_first) {
  char path[PATH_CAP], gone[PATH_CAP];
  if (!join(path, sizeof path, save_dir, name)) return;
  if (rename_first) {
    if (snprintf(gone, sizeof gone, "%s.tmp.%ld.prune", path, (long)getpid()) >= (int)sizeof gone) return;
    if (rename(path, gone) != 0) {
      agpt_log_warn("%s: cannot rename for pruning: %s", path, strerror(errno));
      return;
    }
  } else {
    snprintf(gone, sizeof gone, "%s", path);
  }
  if (agpt_rm_rf(gone) != AGPT_OK) agpt_log_warn("pruning checkpoints: %s", agpt_errmsg());
}

static void prune(const char *save_dir, const char *committed, int keep_last) {
  DIR *d = opendir(save_dir);
  if (!d) {
    agpt_log_warn("%s: cannot list for pruning: %s", save_dir, strerror(errno));
    return;
  }
  agpt_ckpt_dir *dirs = NULL;
  int n = 0, cap = 0;
  char **leftovers = NULL;
  int nl = 0, capl = 0;
  struct dirent *e;
  while ((e = readdir(d))) {
    if (is_leftover(e->d_name)) {
      if (nl == capl) leftovers = agpt_xrealloc(leftovers, (size_t)(capl = capl ? 2 * capl : 8) * sizeof *leftovers);
      leftovers[nl++] = agpt_xstrdup(e->d_name);
      continue;
    }
    int64_t it = iter_of(e->d_name);
    if (it < 0 || strlen(e->d_name) >= sizeof dirs[0].name || !strcmp(e->d_name, committed)) continue;
    if (n == cap) dirs = agpt_xrealloc(dirs, (size_t)(cap = cap ? 2 * cap : 16) * sizeof *dirs);
    dirs[n].iteration = it;
    memcpy(dirs[n].name, e->d_name, strlen(e->d_name) + 1); /* length checked above */
    n++;
  }
  closedir(d);
  for (int i = 0; i < nl; i++) {
    remove_dir_safely(save_dir, leftovers[i], 0);
    free(leftovers[i]);
  }
  free(leftovers);
  if (keep_last > 0 && n > keep_last - 1) {
    qsort(dirs, (size_t)n, sizeof *dirs, cmp_dir_desc);
    for (int i = keep_last - 1; i < n; i++) remove_dir_safely(save_dir, dirs[i].name, 1);
  }
  free(dirs);
}

/* Moves the finished temporary directory to its final name (invariant 2). */
static agpt_status publish_dir(agpt_ckpt_writer *w) {
  if (rename(w->tmp, w->final) == 0) return AGPT_OK;
  if (errno != ENOTEMPTY && errno != EEXIST)
    return agpt_fail("%s: cannot rename to %s: %s", w->tmp, w->final, strerror(errno));
  if (renameat2(AT_FDCWD, w->tmp, AT_FDCWD, w->final, RENAME_EXCHANGE) == 0) {
    /* w->tmp now holds the replaced copy */
    if (agpt_rm_rf(w->tmp) != AGPT_OK) agpt_log_warn("%s", agpt_errmsg());
    return AGPT_OK;
  }
  if (errno != EINVAL && errno != ENOSYS && errno != ENOTSUP)
    return agpt_fail("%s: cannot exchange with %s: %s", w->tmp, w->final, strerror(errno));
  char old[PATH_CAP];
  snprintf(old, sizeof old, "%s.old", w->tmp);
  if (rename(w->final, old) != 0) return agpt_fail("%s: cannot move aside: %s", w->final, strerror(errno));
  if (rename(w->tmp, w->final) != 0) {
    agpt_status st = agpt_fail("%s: cannot rename to %s: %s", w->tmp, w->final, strerror(errno));
    if (rename(old, w->final) != 0) agpt_log_warn("%s: could not restore from %s", w->final, old);
    return st;
  }
  if (agpt_rm_rf(old) != AGPT_OK) agpt_log_warn("%s", agpt_errmsg());
  return AGPT_OK;
}

agpt_status agpt_ckpt_commit(agpt_ckpt_writer *w, int keep_last) {
  if (w->failed) {
    agpt_fail("%s: an earlier write of this checkpoint failed; nothing was committed", w->tmp);
    agpt_ckpt_abort(w);
    return AGPT_ERR;
  }
  agpt_sb sb = {0};
  manifest_text(&sb, w);
  char path[PATH_CAP];
  agpt_status st = join(path, sizeof path, w->tmp, MANIFEST) ? agpt_file_write_atomic(path, sb.data, sb.len)
                                                             : agpt_fail("%s: path too long", w->tmp);
  agpt_sb_free(&sb);
  if (st == AGPT_OK) st = agpt_fsync_dir(w->tmp);
  if (st == AGPT_OK) st = publish_dir(w);
  if (st != AGPT_OK) {
    agpt_fail_prefix("%s: checkpoint not committed", w->final);
    agpt_ckpt_abort(w);
    return AGPT_ERR;
  }
  /* From here the directory is complete under its final name (invariant 2);
   * `latest` moves to it only once that name is durable (invariant 1). */
  char latest[PATH_CAP], text[96];
  snprintf(text, sizeof text, "%s\n", w->base);
  if (agpt_fsync_dir(w->save_dir) != AGPT_OK || !join(latest, sizeof latest, w->save_dir, "latest") ||
      agpt_file_write_atomic(latest, text, strlen(text)) != AGPT_OK) {
    agpt_fail_prefix("%s: checkpoint written but `latest` not updated (it still names the previous one)", w->final);
    writer_free(w);
    return AGPT_ERR;
  }
  prune(w->save_dir, w->base, keep_last);
  writer_free(w);
  return AGPT_OK;
}

/* ---- reading ---- */

/* Loads and checks dir/manifest.json (invariant 3 and its own checksum). */
static agpt_status manifest_load(const char *dir, manifest *m) {
  memset(m, 0, sizeof *m);
  char path[PATH_CAP];
  if (!join(path, sizeof path, dir, MANIFEST)) return agpt_fail("%s: path too long", dir);
  if (!agpt_file_exists(path))
    return agpt_fail("%s: missing (not a committed checkpoint: the save was interrupted, or this is not a checkpoint "
                     "directory)",
                     path);
  char *text;
  size_t n;
  AGPT_TRY(agpt_file_read_all(path, &text, &n));
  size_t tail = sizeof CRC_LINE - 1 + 8 + sizeof CRC_END - 1;
  unsigned stored = 0;
  char hex[9] = {0};
  int shape_ok = n > tail && !memcmp(text + n - tail, CRC_LINE, sizeof CRC_LINE - 1) &&
                 !memcmp(text + n - (sizeof CRC_END - 1), CRC_END, sizeof CRC_END - 1);
  if (shape_ok) {
    memcpy(hex, text + n - tail + sizeof CRC_LINE - 1, 8);
    char *endp;
    stored = (unsigned)strtoul(hex, &endp, 16);
    shape_ok = endp == hex + 8 && strspn(hex, "0123456789abcdef") == 8;
  }
  if (!shape_ok) {
    free(text);
    return agpt_fail("%s: does not end with its \"manifest_crc32c\" line (truncated or edited; load an older "
                     "checkpoint)",
                     path);
  }
  uint32_t crc = agpt_crc32c(0, text, n - tail);
  if (crc != stored) {
    free(text);
    return agpt_fail("%s: CRC-32C %08x, but the manifest says %08x (the manifest is corrupted; load an older "
                     "checkpoint)",
                     path, (unsigned)crc, stored);
  }
  agpt_json *root;
  if (agpt_json_parse(text, n, &root) != AGPT_OK) {
    free(text);
    return agpt_fail_prefix("%s", path);
  }
  free(text);
  agpt_status st = AGPT_OK;
  const char *fmt = agpt_json_str(agpt_json_get(root, "format"), NULL);
  const agpt_json *files = agpt_json_get(root, "files");
  int64_t version = 0;
  if (!fmt || strcmp(fmt, "agpt-checkpoint"))
    st = agpt_fail("%s: format: expected \"agpt-checkpoint\"", path);
  else if (agpt_json_int(agpt_json_get(root, "version"), &version) != AGPT_OK || version != 1)
    st = agpt_fail("%s: version: expected 1 (written by a newer agpt?)", path);
  else if (agpt_json_int(agpt_json_get(root, "iteration"), &m->iteration) != AGPT_OK || m->iteration < 0)
    st = agpt_fail("%s: iteration: expected a non-negative integer", path);
  else if (agpt_json_type(files) != AGPT_JSON_ARRAY)
    st = agpt_fail("%s: files: expected an array", path);
  if (st == AGPT_OK) {
    size_t nf = agpt_json_len(files);
    m->files = agpt_xcalloc(nf ? nf : 1, sizeof *m->files);
    for (size_t i = 0; i < nf && st == AGPT_OK; i++) {
      const agpt_json *f = agpt_json_at(files, i);
      const char *name = agpt_json_str(agpt_json_get(f, "name"), NULL);
      const char *c = agpt_json_str(agpt_json_get(f, "crc32c"), NULL);
      int64_t size;
      char *endp = NULL;
      unsigned long cv = c ? strtoul(c, &endp, 16) : 0;
      if (!name || !plain_name(name) || agpt_json_int(agpt_json_get(f, "size"), &size) != AGPT_OK || size < 0 || !c ||
          strlen(c) != 8 || *endp) {
        st = agpt_fail("%s: files[%zu]: expected {\"name\": plain file name, \"size\": bytes, \"crc32c\": 8 hex digits}",
                       path, i);
        break;
      }
      m->files[m->n++] = (entry){agpt_xstrdup(name), (uint64_t)size, (uint32_t)cv};
    }
  }
  agpt_json_free(root);
  if (st != AGPT_OK) manifest_free(m);
  return st;
}

static const entry *manifest_find(const manifest *m, const char *name) {
  for (int i = 0; i < m->n; i++)
    if (!strcmp(m->files[i].name, name)) return &m->files[i];
  return NULL;
}

/* Checks one file's size and CRC against its manifest entry. */
static agpt_status check_entry(const char *dir, const entry *e) {
  char path[PATH_CAP];
  if (!join(path, sizeof path, dir, e->name)) return agpt_fail("%s/%s: path too long", dir, e->name);
  struct stat sb;
  if (stat(path, &sb) != 0)
    return agpt_fail("%s: missing, but listed in manifest.json with %llu bytes (%s; load an older checkpoint)", path,
                     (unsigned long long)e->size, strerror(errno));
  if ((uint64_t)sb.st_size != e->size)
    return agpt_fail("%s: size %llu bytes, but manifest.json says %llu (truncated or replaced; load an older "
                     "checkpoint)",
                     path, (unsigned long long)sb.st_size, (unsigned long long)e->size);
  agpt_mmap map;
  AGPT_TRY(agpt_mmap_open(path, &map));
  uint32_t crc = agpt_crc32c(0, map.data, map.size);
  agpt_mmap_close(&map);
  if (crc != e->crc)
    return agpt_fail("%s: CRC-32C %08x, but manifest.json says %08x (the file is corrupted; load an older checkpoint)",
                     path, (unsigned)crc, (unsigned)e->crc);
  return AGPT_OK;
}

agpt_status agpt_ckpt_verify(const char *dir) {
  manifest m;
  AGPT_TRY(manifest_load(dir, &m));
  agpt_status st = AGPT_OK;
  for (int i = 0; i < m.n && st == AGPT_OK; i++) st = check_entry(dir, &m.files[i]);
  manifest_free(&m);
  return st;
}

/* Loads the manifest and checks the entry for `name`. */
static agpt_status checked(const char *dir, const char *name) {
  manifest m;
  AGPT_TRY(manifest_load(dir, &m));
  const entry *e = manifest_find(&m, name);
  agpt_status st = e ? check_entry(dir, e)
                     : agpt_fail("%s/%s: not listed in %s/manifest.json (the checkpoint was saved without it)", dir,
                                 name, dir);
  manifest_free(&m);
  return st;
}

agpt_status agpt_ckpt_read_file(const char *dir, const char *name, char **data, size_t *n) {
  *data = NULL;
  *n = 0;
  AGPT_TRY(checked(dir, name));
  char path[PATH_CAP];
  join(path, sizeof path, dir, name);
  return agpt_file_read_all(path, data, n);
}

agpt_status agpt_ckpt_open_safetensors(const char *dir, const char *name, agpt_st_file **out) {
  *out = NULL;
  AGPT_TRY(checked(dir, name));
  char path[PATH_CAP];
  join(path, sizeof path, dir, name);
  return agpt_st_open(path, out);
}

agpt_status agpt_ckpt_read_table(const char *dir, const char *name, const agpt_param_table *table, const char *prefix,
                                 float *flat) {
  agpt_st_file *f;
  AGPT_TRY(agpt_ckpt_open_safetensors(dir, name, &f));
  agpt_status st = agpt_st_read_table_from(f, table, prefix, flat);
  agpt_st_close(f);
  return st;
}

/* Reads SAVE/latest: *named is its iteration, name (cap LATEST_MAX) the
 * directory it names. Fails naming the file when it is not one line
 * "iter_<digits>". */
static agpt_status read_latest(const char *latest, int64_t *named, char *name) {
  char *text;
  size_t n;
  AGPT_TRY(agpt_file_read_all(latest, &text, &n));
  while (n && (text[n - 1] == '\n' || text[n - 1] == '\r' || text[n - 1] == ' ')) text[--n] = '\0';
  *named = n < LATEST_MAX && strlen(text) == n ? iter_of(text) : -1;
  if (*named >= 0) snprintf(name, LATEST_MAX, "%s", text);
  free(text);
  if (*named < 0)
    return agpt_fail("%s: expected one line \"iter_<digits>\" (the file is corrupted; pass --load an iter_* "
                     "directory instead)",
                     latest);
  return AGPT_OK;
}

agpt_status agpt_ckpt_list(const char *save_dir, agpt_ckpt_listing *out) {
  memset(out, 0, sizeof *out);
  out->latest = -1;
  DIR *d = opendir(save_dir);
  if (!d) {
    if (errno == ENOENT) return AGPT_OK;
    return agpt_fail("%s: cannot list the save directory: %s (check --save)", save_dir, strerror(errno));
  }
  int cap = 0;
  struct dirent *e;
  while ((e = readdir(d))) {
    int64_t it = iter_of(e->d_name);
    if (it < 0 || strlen(e->d_name) >= sizeof out->dirs[0].name) continue;
    if (out->n == cap) out->dirs = agpt_xrealloc(out->dirs, (size_t)(cap = cap ? 2 * cap : 16) * sizeof *out->dirs);
    out->dirs[out->n].iteration = it;
    memcpy(out->dirs[out->n].name, e->d_name, strlen(e->d_name) + 1); /* length checked above */
    out->n++;
  }
  closedir(d);
  if (out->n) qsort(out->dirs, (size_t)out->n, sizeof *out->dirs, cmp_dir_desc);
  char latest[PATH_CAP], name[LATEST_MAX];
  if (!join(latest, sizeof latest, save_dir, "latest")) {
    agpt_ckpt_listing_free(out);
    return agpt_fail("%s: path too long", save_dir);
  }
  if (agpt_file_exists(latest) && read_latest(latest, &out->latest, name) != AGPT_OK) {
    agpt_err_clear();
    out->latest = -2;
  }
  return AGPT_OK;
}

void agpt_ckpt_listing_free(agpt_ckpt_listing *l) {
  free(l->dirs);
  memset(l, 0, sizeof *l);
}

/* The manifest of dir agrees with the directory's name, and every file
 * verifies. */
static agpt_status verify_named(const char *dir, int64_t iteration) {
  manifest m;
  AGPT_TRY(manifest_load(dir, &m));
  int64_t got = m.iteration;
  manifest_free(&m);
  if (got != iteration)
    return agpt_fail("%s/manifest.json: iteration %lld in a directory named for iteration %lld", dir, (long long)got,
                     (long long)iteration);
  return agpt_ckpt_verify(dir);
}

agpt_status agpt_ckpt_recover(const char *save_dir, char *dir_out, size_t cap, int64_t *iteration) {
  agpt_ckpt_listing l;
  AGPT_TRY(agpt_ckpt_list(save_dir, &l));
  *iteration = -1;
  agpt_status st = AGPT_ERR;
  for (int i = 0; i < l.n && st != AGPT_OK; i++) {
    char dir[PATH_CAP], aside[PATH_CAP];
    const char *base = l.dirs[i].name;
    if (!join(dir, sizeof dir, save_dir, base)) continue;
    if (verify_named(dir, l.dirs[i].iteration) == AGPT_OK) {
      if (snprintf(dir_out, cap, "%s", dir) >= (int)cap) {
        agpt_ckpt_listing_free(&l);
        return agpt_fail("%s: path longer than %zu bytes", dir, cap);
      }
      *iteration = l.dirs[i].iteration;
      st = AGPT_OK;
      break;
    }
    agpt_log_warn("recovering %s: %s is damaged: %s", save_dir, base, agpt_errmsg());
    if (snprintf(aside, sizeof aside, "%s.damaged.%ld", dir, (long)getpid()) < (int)sizeof aside &&
        rename(dir, aside) == 0)
      agpt_log_warn("recovering %s: moved %s aside to %s (kept; never loaded or pruned)", save_dir, base, aside);
    else
      agpt_log_warn("recovering %s: could not move %s aside: %s", save_dir, base, strerror(errno));
  }
  if (st != AGPT_OK)
    st = l.n ? agpt_fail("%s: none of its %d iter_* directories verifies (see the warnings above); nothing to recover",
                         save_dir, l.n)
             : agpt_fail("%s: no iter_* checkpoint directory to recover from", save_dir);
  agpt_ckpt_listing_free(&l);
  return st;
}

agpt_status agpt_ckpt_resolve(const char *load_path, char *dir_out, size_t cap, int64_t *iteration) {
  char latest[PATH_CAP], dir[PATH_CAP];
  *iteration = -1;
  if (cap) dir_out[0] = '\0';
  struct stat sb;
  if (stat(load_path, &sb) != 0)
    return agpt_fail("%s: cannot open checkpoint path: %s (pass --load a save directory or an iter_* directory)",
                     load_path, strerror(errno));
  if (!S_ISDIR(sb.st_mode))
    return agpt_fail("%s: not a directory (pass --load a save directory or an iter_* directory)", load_path);
  if (!join(latest, sizeof latest, load_path, "latest")) return agpt_fail("%s: path too long", load_path);
  int64_t named = -1;
  if (agpt_file_exists(latest)) {
    char name[LATEST_MAX];
    AGPT_TRY(read_latest(latest, &named, name));
    if (!join(dir, sizeof dir, load_path, name)) return agpt_fail("%s: path too long", load_path);
    if (!agpt_file_exists(dir))
      return agpt_fail("%s: names %s, which does not exist (it was removed; pass --load an existing iter_* "
                       "directory)",
                       latest, name);
  } else {
    char mpath[PATH_CAP];
    if (!join(mpath, sizeof mpath, load_path, MANIFEST)) return agpt_fail("%s: path too long", load_path);
    if (!agpt_file_exists(mpath))
      return agpt_fail("%s: no `latest` file and no manifest.json: not a checkpoint (pass --load the --save directory "
                       "of a run that committed a checkpoint, or one of its iter_* directories)",
                       load_path);
    snprintf(dir, sizeof dir, "%s", load_path);
  }
  manifest m;
  AGPT_TRY(manifest_load(dir, &m));
  int64_t it = m.iteration;
  manifest_free(&m);
  if (named >= 0 && it != named)
    return agpt_fail("%s/manifest.json: iteration %lld, but `latest` names iteration %lld (mixed-up directories)", dir,
                     (long long)it, (long long)named);
  if (snprintf(dir_out, cap, "%s", dir) >= (int)cap) return agpt_fail("%s: path longer than %zu bytes", dir, cap);
  *iteration = it;
  return AGPT_OK;
}
