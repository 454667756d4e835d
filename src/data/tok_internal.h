/* Internals of the byte-level BPE tokenizer, shared by tokenizer.c (tables,
 * encode, decode), tok_pretok.c (regex pre-tokenizer), tok_json.c
 * (tokenizer.json load/save, post-processor included) and tok_train.c
 * (training). Not a public API.
 *
 * Design note: an agpt_tok is built once (load, or train followed by
 * agpt_tok_set_bos_template) and never changes after it is shared.
 * Invariants:
 *  1. tokens[id] holds the vocabulary text of every used id (the byte-level
 *     alphabet for model tokens, plain text for added tokens); bytes[id]
 *     holds the raw bytes the id decodes to. Unused ids have NULL text.
 *  2. byte_id[b] is the id of the one-byte token for byte b, or -1 when the
 *     vocabulary lacks it (such bytes are dropped by encode, like
 *     `tokenizers` does without an unk token, or become unk_id).
 *  3. The pair table maps (left id, right id) to (rank, merged id) for every
 *     merge; rank is the merge's position in the merges list.
 *  4. Added tokens are sorted by content, longest first among those sharing a
 *     first byte, so the first hit at a position is the longest.
 *  5. serial is unique per agpt_tok for the life of the process; the
 *     per-thread encode caches are keyed by it, never by the pointer.
 *  6. post.single and post.plain are the composition of post.stages
 *     (tok_post_compile runs after every change of the stages) and hold
 *     only ids below nvocab, besides AGPT_TOK_TEXT. */
#ifndef AGPT_DATA_TOK_INTERNAL_H
#define AGPT_DATA_TOK_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "core/json.h"
#include "core/status.h"
#include "data/tokenizer.h"

/* The GPT-2 pre-tokenizer regex (ByteLevel with use_regex) and the Llama-3
 * Split regex, exactly as `tokenizers` and Meta's tokenizer.json spell them. */
extern const char agpt_tok_gpt2_regex[];
extern const char agpt_tok_llama3_regex[];

/* ---- GPT-2 byte <-> unicode mapping ---------------------------------- */
/* Code point that byte b is written as in byte-level vocabularies. */
uint32_t tok_byte_to_cp(unsigned b);
/* Byte of a byte-level code point, -1 if cp is not in the alphabet. */
int tok_cp_to_byte(uint32_t cp);
/* Appends the byte-level spelling (UTF-8) of raw bytes to sb. */
void tok_bytes_to_text(const unsigned char *p, size_t n, agpt_sb *sb);
/* Converts byte-level text back to raw bytes into sb; returns 0 if some
 * character is not in the alphabet (sb then holds garbage). */
int tok_text_to_bytes(const char *s, size_t n, agpt_sb *sb);

/* ---- pre-tokenizer (tok_pretok.c) ------------------------------------- */
enum { TOK_MAX_STAGES = 4 };

typedef struct {
  int nstages;
  char *pattern[TOK_MAX_STAGES]; /* owned */
  void *code[TOK_MAX_STAGES];    /* pcre2_code_8 *, owned */
  int jit[TOK_MAX_STAGES];       /* JIT compilation succeeded */
  int add_prefix_space;
  /* How the tokenizer.json wrote it, for saving: 0 plain ByteLevel
   * (stage 0 is the GPT-2 regex, or no stage when use_regex is false);
   * 1 Sequence[Split(stage 0), ByteLevel(use_regex = (nstages == 2))]. */
  int has_split;
} tok_pretok;

/* Compiles a regex (onig/`tokenizers` dialect) into stage `nstages`. */
agpt_status tok_pretok_add(tok_pretok *pt, const char *pattern, size_t len);
void tok_pretok_free(tok_pretok *pt);

/* Per-thread matching state (match data, JIT stack, buffers). */
typedef struct tok_scratch tok_scratch;
tok_scratch *tok_scratch_new(void);
void tok_scratch_free(tok_scratch *s);

/* Called once per pre-token with its raw bytes. */
typedef agpt_status (*tok_piece_fn)(void *ctx, const unsigned char *p, size_t n);
/* Splits text[0..len) (any bytes) into pre-tokens, in order, calling fn for
 * each; the pieces concatenate to the input (plus the prefix space when
 * add_prefix_space). Bytes that are not valid UTF-8 become one piece each
 * and cut the text around them. */
agpt_status tok_pretok_run(const tok_pretok *pt, tok_scratch *s, const char *text, size_t len, tok_piece_fn fn,
                           void *ctx);
/* Length of the longest valid UTF-8 prefix of p[0..n) (the rules PCRE2
 * checks: no overlongs, no surrogates, nothing above U+10FFFF). */
size_t tok_utf8_valid_prefix(const unsigned char *p, size_t n);

/* ---- post-processor (read and written by tok_json.c) ------------------ */
/* The stage kinds `tokenizers` knows; ByteLevel adds no ids (it only trims
 * offsets), the others put special ids around the sequence. */
typedef enum {
  TOK_POST_BYTELEVEL = 1,
  TOK_POST_TEMPLATE = 2,
  TOK_POST_ROBERTA = 3, /* cls $A sep */
  TOK_POST_BERT = 4,    /* cls $A sep */
} tok_post_kind;

typedef struct {
  char *id;         /* owned: a special_tokens key, or "A"/"B" for a sequence */
  int is_seq;
  int64_t type_id;  /* kept for saving only */
} tok_tpl_piece;

typedef struct {
  char *key;        /* owned: the name the template pieces use */
  int32_t *ids;     /* (nids) owned */
  size_t nids;
  char **tokens;    /* (ntokens) owned; kept for saving only */
  size_t ntokens;
} tok_tpl_special;

typedef struct {
  tok_post_kind kind;
  unsigned char add_prefix_space, trim_offsets, use_regex; /* ByteLevel; Roberta has the first two */
  tok_tpl_piece *single, *pair; /* (nsingle), (npair) owned; Template */
  size_t nsingle, npair;
  int has_pair;
  tok_tpl_special *specials;    /* (nspecials) owned; Template */
  size_t nspecials;
  char *sep, *cls;              /* owned; Bert, Roberta */
  int32_t sep_id, cls_id;
} tok_post_stage;

typedef struct {
  /* How the file spelled it: 0 nothing known (a trained tokenizer; saved
   * as a plain ByteLevel post-processor), 1 null, 2 one stage, 3 a
   * Sequence of stages (nested Sequences are flattened). */
  int form;
  tok_post_stage *stages; /* (nstages) owned, in application order */
  size_t nstages;
  /* The single-sequence template with every stage applied: ids, and
   * AGPT_TOK_TEXT where the text goes. {AGPT_TOK_TEXT} when nothing is added. */
  int32_t *single; /* (nsingle) owned */
  size_t nsingle;
  /* The same without special tokens: {AGPT_TOK_TEXT} unless a template
   * repeats $A, which repeats the text in `tokenizers` too. */
  int32_t *plain; /* (nplain) owned */
  size_t nplain;
} tok_post;

/* Frees what p owns and zeroes it. */
void tok_post_free(tok_post *p);
/* Composes the stages into post.single and post.plain as `tokenizers` runs
 * them; fails (naming `where`) on what `tokenizers` would panic on while
 * encoding and on ids outside the vocabulary of t. */
agpt_status tok_post_compile(agpt_tok *t, const char *where);

/* ---- the tokenizer ---------------------------------------------------- */
typedef struct {
  char *content; /* owned, NUL-terminated */
  size_t len;
  int32_t id;
  unsigned char special, single_word, lstrip, rstrip, normalized;
  unsigned char in_vocab; /* also listed in model.vocab (written back there on save) */
} tok_added;

typedef struct {
  uint64_t key; /* (left << 32) | right; 0 marks an empty slot, so keys are stored +1 */
  int32_t rank, id;
} tok_pair_slot;

typedef struct {
  uint64_t hash;
  uint32_t off, len; /* into bytes_pool */
  int32_t id;
} tok_bytes_slot;

struct agpt_tok {
  uint64_t serial;
  size_t nvocab;          /* max id + 1 */
  char **tokens;          /* (nvocab) vocabulary text, NULL if unused */
  uint32_t *token_len;    /* (nvocab) */
  unsigned char **bytes;  /* (nvocab) raw bytes an id decodes to (points into bytes_pool) */
  uint32_t *bytes_len;    /* (nvocab) */
  char *bytes_pool;
  int32_t byte_id[256];

  /* merges */
  size_t nmerges;
  int32_t (*merges)[2]; /* (nmerges) left, right ids in rank order */
  tok_pair_slot *pairs;
  size_t pair_cap;      /* power of two */

  /* raw bytes -> id of model tokens (ignore_merges and token lookup) */
  tok_bytes_slot *bslots;
  size_t bslot_cap;

  tok_added *added; /* (nadded) sorted as invariant 4 */
  size_t nadded;
  uint8_t added_first[256]; /* 1 if some added token starts with this byte */

  int32_t bos, eos, pad, unk;
  int ignore_merges;
  tok_pretok pre;
  tok_post post;
};

/* Builds the lookup tables once tokens/merges/added are set. Fails on a
 * merge whose result is not in the vocabulary (names `where`). */
agpt_status tok_finish(agpt_tok *t, const char *where);
/* An empty tokenizer with a fresh serial and no vocabulary. */
agpt_tok *tok_alloc(void);
/* Sets tokens[id] (copies text); grows the vocabulary as needed. Fails on a
 * duplicate id. */
agpt_status tok_set_token(agpt_tok *t, int32_t id, const char *text, size_t len, const char *where);
/* Hash used by the lookup tables. */
uint64_t tok_hash_bytes(const void *p, size_t n);
/* Raw-bytes lookup among model tokens; -1 if absent. */
int32_t tok_bytes_lookup(const agpt_tok *t, const unsigned char *p, size_t n);
/* Picks BOS/EOS/PAD among the added tokens by their usual names. */
void tok_guess_specials(agpt_tok *t);

#endif
