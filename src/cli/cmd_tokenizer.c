/* `agpt tokenizer train|encode|decode|info`: byte-level BPE from the command line.
 *
 * train reads plain text files whole, and JSONL files (.jsonl or .json) one
 * document per line from the --json-key field, and writes a post_processor
 * that puts BOS before each sequence when a BOS token is configured (see
 * --bos-template); encode prints ids separated by spaces, one line per input
 * (one per document for JSONL), with the file's template around each under
 * --add-special-tokens; decode writes
 * the raw bytes of the ids to stdout; --benchmark measures encode
 * throughput and prints MB/s. */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "cli/flags.h"
#include "core/file.h"
#include "core/json.h"
#include "core/log.h"
#include "data/jsonl.h"
#include "data/tokenizer.h"

static int fail_exit(const char *cmd) {
  fprintf(stderr, "agpt tokenizer %s: %s\n", cmd, agpt_errmsg());
  return 1;
}

static int has_suffix(const char *s, const char *suf) {
  size_t n = strlen(s), k = strlen(suf);
  return n >= k && !strcmp(s + n - k, suf);
}

static int is_jsonl(const char *path) { return has_suffix(path, ".jsonl") || has_suffix(path, ".json"); }

/* Documents of one input: offsets into `text` (which owns the bytes). */
typedef struct {
  char *text; /* owned */
  size_t len;
  size_t *off, *dlen, ndocs;
} docs;

static void docs_free(docs *d) {
  free(d->text);
  free(d->off);
  free(d->dlen);
  memset(d, 0, sizeof *d);
}

/* Reads a whole text file as one document, or a JSONL file as one document
 * per line from the string field `key`, with malformed lines handled by
 * `rule` (data/jsonl.h). */
static agpt_status docs_read(const char *path, const char *key, agpt_jsonl_rule *rule, docs *d) {
  memset(d, 0, sizeof *d);
  char *raw;
  size_t n;
  AGPT_TRY(agpt_file_read_all(path, &raw, &n));
  if (!is_jsonl(path)) {
    d->text = raw;
    d->len = n;
    d->off = agpt_xmalloc(sizeof *d->off);
    d->dlen = agpt_xmalloc(sizeof *d->dlen);
    d->off[0] = 0;
    d->dlen[0] = n;
    d->ndocs = 1;
    return AGPT_OK;
  }
  char *const keys[] = {(char *)key};
  agpt_sb out = {0};
  size_t cap = 0, line = 0;
  agpt_status st = AGPT_OK;
  for (size_t pos = 0; pos < n && st == AGPT_OK;) {
    const char *nl = memchr(raw + pos, '\n', n - pos);
    size_t end = nl ? (size_t)(nl - raw) : n;
    line++;
    agpt_json *j;
    char *why;
    if (agpt_jsonl_blank(raw + pos, end - pos)) {
      /* no document */
    } else if (!agpt_jsonl_parse_line(raw + pos, end - pos, keys, 1, "--json-key", &j, &why)) {
      st = agpt_jsonl_malformed(rule, path, line, why);
      free(why);
    } else {
      size_t sl;
      const char *s = agpt_json_str(agpt_json_get(j, key), &sl);
      if (d->ndocs == cap) {
        cap = cap ? 2 * cap : 1024;
        d->off = agpt_xrealloc(d->off, cap * sizeof *d->off);
        d->dlen = agpt_xrealloc(d->dlen, cap * sizeof *d->dlen);
      }
      d->off[d->ndocs] = out.len;
      d->dlen[d->ndocs++] = sl;
      agpt_sb_put(&out, s, sl);
      agpt_json_free(j);
    }
    pos = end + 1;
  }
  free(raw);
  if (st != AGPT_OK) {
    agpt_sb_free(&out);
    docs_free(d);
    return st;
  }
  agpt_sb_put(&out, "", 1);
  d->text = out.data;
  d->len = out.len - 1;
  return AGPT_OK;
}

/* ---- train ------------------------------------------------------------ */

static int cmd_train(int argc, char **argv) {
  agpt_strlist input, special;
  const char *output, *pattern, *json_key, *bos, *eos, *pad;
  int64_t vocab_size, min_freq;
  int threads, quiet, bos_template, strict, max_warnings;
  const agpt_flag flags[] = {
      {"input", AGPT_FLAG_STRLIST, &input, NULL, "text files, or JSONL files (.jsonl/.json) with a text field", NULL, NULL},
      {"vocab-size", AGPT_FLAG_I64, &vocab_size, "32000", "vocabulary size including bytes and special tokens", NULL, "[257, 1073741824]"},
      {"output", AGPT_FLAG_STR, &output, NULL, "tokenizer.json to write", NULL, NULL},
      {"pattern", AGPT_FLAG_STR, &pattern, "gpt2", "pre-tokenizer regex, GPT-2's or Llama-3's", NULL, "gpt2|llama3"},
      {"special-tokens", AGPT_FLAG_STRLIST, &special, NULL,
       "special tokens, ids after the merged tokens [default: <|endoftext|>]", NULL, NULL},
      {"bos", AGPT_FLAG_STR, &bos, NULL, "which special token is BOS (default: recognised by name)", NULL, NULL},
      {"eos", AGPT_FLAG_STR, &eos, NULL, "which special token is EOS (default: recognised by name)", NULL, NULL},
      {"pad", AGPT_FLAG_STR, &pad, NULL, "which special token is PAD (default: recognised by name)", NULL, NULL},
      {"bos-template", AGPT_FLAG_BOOL, &bos_template, "1",
       "with a BOS token, write Llama-3's post_processor (BOS before each sequence under add_special_tokens); "
       "--bos-template=false writes one that adds nothing", NULL, NULL},
      {"min-frequency", AGPT_FLAG_I64, &min_freq, "0", "stop when the best pair is rarer than this", NULL, "[0, inf)"},
      {"json-key", AGPT_FLAG_STR, &json_key, "text", "field holding the text in JSONL inputs", NULL, NULL},
      {"strict", AGPT_FLAG_BOOL, &strict, "0", "fail on the first malformed JSONL line instead of skipping it", NULL,
       NULL},
      {"max-warnings", AGPT_FLAG_INT, &max_warnings, "20", "malformed lines reported one by one (the rest counted)",
       NULL, "[0, inf)"},
      {"threads", AGPT_FLAG_INT, &threads, "0", "counting threads (0: OMP_NUM_THREADS or all cores)", NULL, "[0, 4096]"},
      {"quiet", AGPT_FLAG_BOOL, &quiet, NULL, "no progress output", NULL, NULL},
  };
  int help;
  const int nf = AGPT_NFLAGS(flags);
  const char *usage = "agpt tokenizer train --input FILE... --vocab-size N --output tokenizer.json [flags]";
  const char *summary =
      "Trains a byte-level BPE tokenizer and writes it as a Hugging Face tokenizer.json. When a BOS token is\n"
      "configured (--bos, or a special token named like <|begin_of_text|> or <s>), the file's post_processor is\n"
      "Llama-3's: `tokenizers` (add_special_tokens=True, its default) and agpt's --add-special-tokens put BOS\n"
      "before each sequence. EOS is not in the template: agpt preprocess appends it as EOD. A malformed JSONL line\n"
      "(broken JSON, not an object, no --json-key string) is reported with file and line and skipped, as agpt\n"
      "preprocess does; --strict makes it an error. The directories --output names are created.";
  if (agpt_flags_parse(flags, nf, argc, argv, NULL, &help) != AGPT_OK) {
    fprintf(stderr, "agpt tokenizer train: %s\n", agpt_errmsg());
    return 2;
  }
  if (help) {
    agpt_flags_usage(stdout, usage, summary, flags, nf);
    return 0;
  }
  int rc = 2;
  if (!input.n || !output) {
    fprintf(stderr, "agpt tokenizer train: --input and --output are required (see --help)\n");
    goto out;
  }
  /* the domains of --pattern and --vocab-size are checked by the flag table */
  agpt_tok_pattern pat = agpt_flags_choice("gpt2|llama3", pattern) == 0 ? AGPT_TOK_PATTERN_GPT2 : AGPT_TOK_PATTERN_LLAMA3;
  rc = 1;
  agpt_tok_counter *counter;
  if (agpt_tok_counter_new(pat, &counter) != AGPT_OK) {
    rc = fail_exit("train");
    goto out;
  }
  double t0 = agpt_now();
  size_t total = 0;
  agpt_jsonl_rule rule = {.strict = strict, .max_warnings = max_warnings};
  for (int i = 0; i < input.n; i++) {
    docs d;
    agpt_status st = docs_read(input.items[i], json_key, &rule, &d);
    if (st == AGPT_OK) {
      if (is_jsonl(input.items[i])) {
        const char **ptr = agpt_xmalloc((d.ndocs ? d.ndocs : 1) * sizeof *ptr);
        for (size_t k = 0; k < d.ndocs; k++) ptr[k] = d.text + d.off[k];
        st = agpt_tok_counter_add_docs(counter, ptr, d.dlen, d.ndocs, threads);
        free(ptr);
      } else {
        st = agpt_tok_counter_add(counter, d.text, d.len, threads);
      }
      total += d.len;
      docs_free(&d);
    }
    if (st != AGPT_OK) {
      agpt_tok_counter_free(counter);
      rc = fail_exit("train");
      goto out;
    }
    if (!quiet)
      fprintf(stderr, "agpt: tokenizer train: counted %s (%zu distinct pre-tokens so far)\n", input.items[i],
              agpt_tok_counter_words(counter));
  }
  if (!quiet)
    fprintf(stderr, "agpt: tokenizer train: %.1f MB counted in %.1f s; skipped %llu malformed lines\n",
            (double)total / 1e6, agpt_now() - t0, (unsigned long long)rule.malformed);
  if (total == 0) {
    agpt_tok_counter_free(counter);
    agpt_fail("no text to learn from in %d input file(s): %llu lines were malformed and skipped (check --json-key "
              "against the fields of the input, and --input)",
              input.n, (unsigned long long)rule.malformed);
    rc = fail_exit("train");
    goto out;
  }
  static const char *def_special[] = {"<|endoftext|>"};
  agpt_tok_train_opts o = {
      .vocab_size = (size_t)vocab_size,
      .pattern = pat,
      .threads = threads,
      .min_frequency = min_freq > 0 ? (uint64_t)min_freq : 0,
      .special = special.n ? (const char *const *)special.items : def_special,
      .nspecial = special.n ? (size_t)special.n : 1,
      .bos = bos,
      .eos = eos,
      .pad = pad,
      .progress = !quiet,
  };
  agpt_tok *t;
  agpt_status st = agpt_tok_train(counter, &o, &t);
  agpt_tok_counter_free(counter);
  if (st == AGPT_OK && agpt_tok_set_bos_template(t, bos_template ? agpt_tok_bos(t) : -1) != AGPT_OK) {
    agpt_tok_free(t);
    st = AGPT_ERR;
  }
  if (st != AGPT_OK) {
    rc = fail_exit("train");
    goto out;
  }
  if (agpt_mkdir_parents(output) != AGPT_OK || agpt_tok_save(t, output) != AGPT_OK) {
    agpt_tok_free(t);
    rc = fail_exit("train");
    goto out;
  }
  if (!quiet)
    fprintf(stderr, "agpt: tokenizer train: wrote %s (%zu tokens) in %.1f s\n", output, agpt_tok_vocab_size(t),
            agpt_now() - t0);
  agpt_tok_free(t);
  rc = 0;
out:
  agpt_strlist_free(&input);
  agpt_strlist_free(&special);
  return rc;
}

/* ---- encode ----------------------------------------------------------- */

static void print_ids(const int32_t *ids, size_t n) {
  agpt_sb sb = {0};
  for (size_t i = 0; i < n; i++) agpt_sb_printf(&sb, i ? " %d" : "%d", ids[i]);
  agpt_sb_put(&sb, "\n", 1);
  fwrite(sb.data, 1, sb.len, stdout);
  agpt_sb_free(&sb);
}

/* Encodes d `repeat` times with `threads` threads (the documents, or for one
 * document its line-aligned chunks, shared out) and prints MB/s. */
static int benchmark(const agpt_tok *t, const docs *d, int threads, int repeat, int add_special) {
  const char **ptr;
  size_t *len, n;
  if (d->ndocs == 1 && threads > 1) {
    /* one document per thread, cut after a newline */
    n = (size_t)threads;
    ptr = agpt_xmalloc(n * sizeof *ptr);
    len = agpt_xmalloc(n * sizeof *len);
    size_t start = 0;
    for (size_t k = 0; k < n; k++) {
      size_t end = k + 1 == n ? d->len : d->len * (k + 1) / n;
      while (end < d->len && d->text[end - 1] != '\n') end++;
      if (end < start) end = start;
      ptr[k] = d->text + start;
      len[k] = end - start;
      start = end;
    }
  } else {
    n = d->ndocs;
    ptr = agpt_xmalloc((n ? n : 1) * sizeof *ptr);
    len = agpt_xmalloc((n ? n : 1) * sizeof *len);
    for (size_t k = 0; k < n; k++) {
      ptr[k] = d->text + d->off[k];
      len[k] = d->dlen[k];
    }
  }
  size_t bytes = 0, tokens = 0;
  for (size_t k = 0; k < n; k++) bytes += len[k];
  int failed = 0;
  double best = 1e30;
  for (int r = 0; r < repeat; r++) {
    size_t ntok = 0;
    double t0 = agpt_now();
#pragma omp parallel num_threads(threads) reduction(+ : ntok)
    {
      int32_t *ids = NULL;
      size_t cnt = 0, cap = 0;
#pragma omp for schedule(dynamic, 1)
      for (size_t k = 0; k < n; k++) {
        cnt = 0;
        if (agpt_tok_encode_ex(t, ptr[k], len[k], add_special, &ids, &cnt, &cap, NULL) != AGPT_OK) {
#pragma omp atomic write
          failed = 1;
        }
        ntok += cnt;
      }
      free(ids);
    }
    double dt = agpt_now() - t0;
    if (dt < best) best = dt;
    tokens = ntok;
  }
  free(ptr);
  free(len);
  if (failed) return fail_exit("encode");
  double mbs = (double)bytes / 1e6 / best;
  printf("bytes=%zu tokens=%zu threads=%d seconds=%.4f mb_s=%.3f mb_s_per_thread=%.3f\n", bytes, tokens, threads,
         best, mbs, mbs / threads);
  return 0;
}

static int cmd_encode(int argc, char **argv) {
  const char *tok_path, *text, *input, *json_key;
  int threads, bench, repeat, add_special;
  const agpt_flag flags[] = {
      {"tokenizer", AGPT_FLAG_STR, &tok_path, NULL, "tokenizer.json", "tokenizer-model", NULL},
      {"text", AGPT_FLAG_STR, &text, NULL, "text to encode", NULL, NULL},
      {"add-special-tokens", AGPT_FLAG_BOOL, &add_special, "0",
       "apply the file's post_processor (BOS for Llama-3), as `tokenizers` does with add_special_tokens=True", NULL, NULL},
      {"input", AGPT_FLAG_STR, &input, NULL, "file to encode (JSONL: one line of ids per document)", NULL, NULL},
      {"json-key", AGPT_FLAG_STR, &json_key, "text", "field holding the text in JSONL inputs", NULL, NULL},
      {"benchmark", AGPT_FLAG_BOOL, &bench, NULL, "measure encode throughput instead of printing ids", NULL, NULL},
      {"threads", AGPT_FLAG_INT, &threads, "1", "threads for --benchmark", NULL, "[1, 4096]"},
      {"repeat", AGPT_FLAG_INT, &repeat, "3", "--benchmark passes (the fastest is reported)", NULL, "[1, inf)"},
  };
  int help;
  const int nf = AGPT_NFLAGS(flags);
  if (agpt_flags_parse(flags, nf, argc, argv, NULL, &help) != AGPT_OK) {
    fprintf(stderr, "agpt tokenizer encode: %s\n", agpt_errmsg());
    return 2;
  }
  if (help) {
    agpt_flags_usage(stdout, "agpt tokenizer encode --tokenizer T (--text S | --input FILE) [--add-special-tokens] [--benchmark]",
                     "Prints the token ids of a text, space-separated (or measures encode speed).", flags, nf);
    return 0;
  }
  if (!tok_path || (!text == !input)) {
    fprintf(stderr, "agpt tokenizer encode: needs --tokenizer and exactly one of --text or --input (see --help)\n");
    return 2;
  }
  agpt_tok *t;
  if (agpt_tok_load(tok_path, &t) != AGPT_OK) return fail_exit("encode");
  docs d = {0};
  if (input) {
    agpt_jsonl_rule rule = {.strict = 1, .note = "encode prints one line of ids per document, so every line must hold one"};
    if (docs_read(input, json_key, &rule, &d) != AGPT_OK) {
      agpt_tok_free(t);
      return fail_exit("encode");
    }
  } else {
    d.len = strlen(text);
    d.text = agpt_xmalloc(d.len + 1);
    memcpy(d.text, text, d.len + 1);
    d.off = agpt_xcalloc(1, sizeof *d.off);
    d.dlen = agpt_xmalloc(sizeof *d.dlen);
    d.dlen[0] = d.len;
    d.ndocs = 1;
  }
  int rc = 0;
  if (bench) {
    rc = benchmark(t, &d, threads, repeat, add_special);
  } else {
    int32_t *ids = NULL;
    size_t cap = 0;
    for (size_t k = 0; k < d.ndocs && !rc; k++) {
      size_t n = 0;
      if (agpt_tok_encode_ex(t, d.text + d.off[k], d.dlen[k], add_special, &ids, &n, &cap, NULL) != AGPT_OK)
        rc = fail_exit("encode");
      else print_ids(ids, n);
    }
    free(ids);
  }
  if (fflush(stdout) != 0 && !rc) {
    fprintf(stderr, "agpt tokenizer encode: writing stdout failed\n");
    rc = 1;
  }
  docs_free(&d);
  agpt_tok_free(t);
  return rc;
}

/* ---- decode ----------------------------------------------------------- */

static int cmd_decode(int argc, char **argv) {
  const char *tok_path, *ids_s;
  const agpt_flag flags[] = {
      {"tokenizer", AGPT_FLAG_STR, &tok_path, NULL, "tokenizer.json", "tokenizer-model", NULL},
      {"ids", AGPT_FLAG_STR, &ids_s, NULL, "ids separated by spaces or commas", NULL, NULL},
  };
  int help;
  const int nf = AGPT_NFLAGS(flags);
  if (agpt_flags_parse(flags, nf, argc, argv, NULL, &help) != AGPT_OK) {
    fprintf(stderr, "agpt tokenizer decode: %s\n", agpt_errmsg());
    return 2;
  }
  if (help) {
    agpt_flags_usage(stdout, "agpt tokenizer decode --tokenizer T --ids \"1 2 3\"",
                     "Writes the bytes of the ids to stdout (special tokens as their text).", flags, nf);
    return 0;
  }
  if (!tok_path || !ids_s) {
    fprintf(stderr, "agpt tokenizer decode: --tokenizer and --ids are required (see --help)\n");
    return 2;
  }
  int32_t *ids = NULL;
  size_t n = 0, cap = 0;
  for (const char *p = ids_s; *p;) {
    if (*p == ' ' || *p == ',' || *p == '\t' || *p == '\n') {
      p++;
      continue;
    }
    char *end;
    long v = strtol(p, &end, 10);
    if (end == p || v < -2147483647L || v > 2147483647L) {
      fprintf(stderr, "agpt tokenizer decode: --ids: '%.20s' is not an integer id\n", p);
      free(ids);
      return 2;
    }
    if (n == cap) ids = agpt_xrealloc(ids, (cap = cap ? 2 * cap : 256) * sizeof *ids);
    ids[n++] = (int32_t)v;
    p = end;
  }
  agpt_tok *t;
  if (agpt_tok_load(tok_path, &t) != AGPT_OK) {
    free(ids);
    return fail_exit("decode");
  }
  agpt_sb out = {0};
  int rc = 0;
  if (agpt_tok_decode(t, ids, n, &out) != AGPT_OK) rc = fail_exit("decode");
  else if ((out.len && fwrite(out.data, 1, out.len, stdout) != out.len) || fflush(stdout) != 0) {
    fprintf(stderr, "agpt tokenizer decode: writing stdout failed\n");
    rc = 1;
  }
  agpt_sb_free(&out);
  free(ids);
  agpt_tok_free(t);
  return rc;
}

/* ---- info ------------------------------------------------------------- */

static void print_special(const char *role, const agpt_tok *t, int32_t id) {
  size_t len;
  const char *s = agpt_tok_token_str(t, id, &len);
  if (s) printf("%-12s %d %.*s\n", role, id, (int)len, s);
  else printf("%-12s none\n", role);
}

static int cmd_info(int argc, char **argv) {
  const char *tok_path;
  const agpt_flag flags[] = {
      {"tokenizer", AGPT_FLAG_STR, &tok_path, NULL, "tokenizer.json", "tokenizer-model", NULL},
  };
  int help;
  const int nf = AGPT_NFLAGS(flags);
  agpt_strlist pos;
  if (agpt_flags_parse(flags, nf, argc, argv, &pos, &help) != AGPT_OK) {
    fprintf(stderr, "agpt tokenizer info: %s\n", agpt_errmsg());
    agpt_strlist_free(&pos);
    return 2;
  }
  if (help) {
    agpt_flags_usage(stdout, "agpt tokenizer info tokenizer.json   (or --tokenizer tokenizer.json)",
                     "Prints the vocabulary size, the special tokens and the template --add-special-tokens applies.",
                     flags, nf);
    agpt_strlist_free(&pos);
    return 0;
  }
  /* the file as a word or as --tokenizer, once */
  int n_given = pos.n + (tok_path != NULL);
  if (pos.n == 1 && !tok_path) tok_path = pos.items[0];
  agpt_strlist_free(&pos);
  if (n_given != 1) {
    fprintf(stderr, "agpt tokenizer info: give one tokenizer.json, as a word or as --tokenizer (see --help)\n");
    return 2;
  }
  agpt_tok *t;
  if (agpt_tok_load(tok_path, &t) != AGPT_OK) return fail_exit("info");
  printf("%-12s %s\n%-12s %zu\n", "tokenizer", tok_path, "vocab_size", agpt_tok_vocab_size(t));
  print_special("bos", t, agpt_tok_bos(t));
  print_special("eos", t, agpt_tok_eos(t));
  print_special("pad", t, agpt_tok_pad(t));
  /* what --add-special-tokens puts around a text */
  size_t ntpl;
  const int32_t *tpl = agpt_tok_template(t, &ntpl);
  printf("%-12s", "template");
  for (size_t i = 0; i < ntpl; i++) {
    size_t len;
    const char *s = agpt_tok_token_str(t, tpl[i], &len);
    if (tpl[i] == AGPT_TOK_TEXT) printf(" $A");
    else printf(" %.*s(%d)", (int)len, s, tpl[i]);
  }
  printf("\n");
  agpt_tok_free(t);
  return 0;
}

int agpt_cmd_tokenizer(int argc, char **argv) {
  static const struct {
    const char *name;
    int (*run)(int, char **);
    const char *help;
  } subs[] = {
      {"train", cmd_train, "learn a byte-level BPE vocabulary from text or JSONL files"},
      {"encode", cmd_encode, "print the ids of a text or file (or measure throughput with --benchmark)"},
      {"decode", cmd_decode, "write the bytes of a list of ids"},
      {"info", cmd_info, "vocabulary size and special tokens of a tokenizer.json"},
  };
  if (argc >= 1)
    for (size_t i = 0; i < sizeof subs / sizeof subs[0]; i++)
      if (!strcmp(argv[0], subs[i].name)) return subs[i].run(argc - 1, argv + 1);
  int help = argc >= 1 && (!strcmp(argv[0], "--help") || !strcmp(argv[0], "-h") || !strcmp(argv[0], "help"));
  FILE *out = help ? stdout : stderr;
  if (argc >= 1 && !help) fprintf(stderr, "agpt tokenizer: unknown subcommand '%s'\n\n", argv[0]);
  fprintf(out, "usage: agpt tokenizer <subcommand> [flags]   (agpt tokenizer <subcommand> --help)\n\nsubcommands:\n");
  for (size_t i = 0; i < sizeof subs / sizeof subs[0]; i++) fprintf(out, "  %-8s %s\n", subs[i].name, subs[i].help);
  return help ? 0 : 2;
}
