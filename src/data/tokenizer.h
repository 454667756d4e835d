/* Byte-level BPE tokenizer: load, encode, decode, train, save.
 *
 * Reads and writes the Hugging Face `tokenizer.json` format for byte-level BPE
 * (GPT-2, Llama-3 and the like): model type BPE with vocab and merges,
 * added_tokens, a ByteLevel pre-tokenizer (optionally behind a Split regex),
 * a ByteLevel decoder. Ids produced by agpt_tok_encode equal those of the
 * `tokenizers` library on valid UTF-8 text; decode(encode(x)) == x for every
 * byte string, including invalid UTF-8.
 *
 * Bytes that are not part of valid UTF-8 (which `tokenizers` cannot be given:
 * it takes Rust strings) cut the text: each such byte is a pre-token of its
 * own and the valid stretches around it are pre-tokenized separately.
 * The post_processor (ByteLevel, TemplateProcessing, RobertaProcessing,
 * BertProcessing, Sequence of these, or null) is read and kept on save; its
 * single-sequence template is applied only when asked (agpt_tok_encode_ex
 * with add_special_tokens): agpt_tok_encode adds nothing, and callers append
 * agpt_tok_eos() themselves where they want EOD.
 * Not implemented: the lstrip/rstrip/single_word options of added tokens
 * (read, kept on save, but matching is always exact), normalizers other than
 * none, and encoding pairs of texts (the pair template is read and kept on
 * save).
 *
 * A loaded agpt_tok is immutable: any number of threads may encode and decode
 * with one shared agpt_tok at the same time. */
#ifndef AGPT_DATA_TOKENIZER_H
#define AGPT_DATA_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

#include "core/json.h"
#include "core/status.h"

typedef struct agpt_tok agpt_tok;

/* Loads an HF tokenizer.json. *out is owned by the caller (agpt_tok_free). */
agpt_status agpt_tok_load(const char *path, agpt_tok **out);
/* Same from a JSON text already in memory; `name` is used in messages. */
agpt_status agpt_tok_load_json(const char *text, size_t len, const char *name, agpt_tok **out);
void agpt_tok_free(agpt_tok *t);

/* Number of ids, including special (added) tokens: max id + 1. */
size_t agpt_tok_vocab_size(const agpt_tok *t);
/* Ids of the special tokens, -1 if none. BOS/EOS/PAD are found among the
 * added tokens by their usual names (<|begin_of_text|>, <s>, <|endoftext|>,
 * <|end_of_text|>, </s>, <|pad|>, <pad>, ...) or set by training. */
int32_t agpt_tok_bos(const agpt_tok *t);
int32_t agpt_tok_eos(const agpt_tok *t);
int32_t agpt_tok_pad(const agpt_tok *t);
/* Id of the token whose text (as written in tokenizer.json, i.e. in the
 * byte-to-unicode alphabet for ordinary tokens) is s[0..len); -1 if none. */
int32_t agpt_tok_token_id(const agpt_tok *t, const char *s, size_t len);
/* Text of an id as written in tokenizer.json (NUL-terminated, owned by t);
 * NULL for an id out of range or unused. */
const char *agpt_tok_token_str(const agpt_tok *t, int32_t id, size_t *len);

/* Thread-safe on one shared agpt_tok. Appends the ids of text[0..len) to the
 * growable array *ids (n used, cap allocated; realloc'd as needed; caller
 * frees). Special-token strings in the text become their ids, as `tokenizers`
 * does by default. */
agpt_status agpt_tok_encode(const agpt_tok *t, const char *text, size_t len, int32_t **ids, size_t *n,
                            size_t *cap);
/* Like agpt_tok_encode, and with add_special_tokens nonzero the ids the
 * post_processor puts around a single sequence are added too (BOS first for
 * Llama-3 files), as `tokenizers`' encode(text, add_special_tokens=True)
 * does, also for an empty text. With add_special_tokens zero it appends
 * what agpt_tok_encode does (twice should a template hold $A twice, as
 * `tokenizers` also does then). *n_text (may be NULL) receives how many of
 * the appended ids came from the text itself, counted once. Thread-safe
 * like agpt_tok_encode. */
agpt_status agpt_tok_encode_ex(const agpt_tok *t, const char *text, size_t len, int add_special_tokens,
                               int32_t **ids, size_t *n, size_t *cap, size_t *n_text);

/* Stands for the text's own ids in a template. */
#define AGPT_TOK_TEXT ((int32_t)-1)
/* The single-sequence template of the post_processor, all stages applied:
 * tpl[0..*n) holds special ids and AGPT_TOK_TEXT where the text goes; it is
 * {AGPT_TOK_TEXT} when nothing is added. Owned by t. */
const int32_t *agpt_tok_template(const agpt_tok *t, size_t *n);
/* Sets the post_processor of a tokenizer about to be saved (used after
 * training). bos >= 0: Llama-3's form, Sequence[ByteLevel, TemplateProcessing
 * with single "BOS $A" and pair "BOS $A BOS $B"], so that `tokenizers`
 * (add_special_tokens=True, its default) and agpt_tok_encode_ex put BOS
 * before each sequence. bos < 0: a plain ByteLevel, which adds nothing.
 * Changes t: call it before t is shared between threads. Fails when bos is
 * not an id of t. */
agpt_status agpt_tok_set_bos_template(agpt_tok *t, int32_t bos);

/* Appends the bytes of ids to sb (core/json.h agpt_sb). Fails on an
 * out-of-range id. Special tokens decode to their text. */
agpt_status agpt_tok_decode(const agpt_tok *t, const int32_t *ids, size_t n, agpt_sb *out);

/* Writes t as an HF tokenizer.json (atomically). */
agpt_status agpt_tok_save(const agpt_tok *t, const char *path);
/* Same into a string builder. */
void agpt_tok_to_json(const agpt_tok *t, agpt_sb *out);

/* Pre-tokenizer patterns. */
typedef enum {
  AGPT_TOK_PATTERN_GPT2 = 0,   /* ByteLevel(use_regex=true), GPT-2 regex */
  AGPT_TOK_PATTERN_LLAMA3 = 1, /* Sequence[Split(Llama-3 regex), ByteLevel(use_regex=false)] */
} agpt_tok_pattern;

typedef struct {
  size_t vocab_size;        /* final size including the 256 bytes and the special tokens */
  agpt_tok_pattern pattern;
  int threads;              /* counting threads; <= 0: OpenMP default */
  uint64_t min_frequency;   /* pairs seen fewer times are not merged (0 or 1: no limit) */
  const char *const *special; /* special tokens, given ids after the merged tokens, in order */
  size_t nspecial;
  const char *bos, *eos, *pad; /* which of `special` are BOS/EOS/PAD; NULL: none */
  int progress;             /* print progress lines to stderr */
} agpt_tok_train_opts;

/* Word counts gathered from text before the merges are learned. Adding text
 * is thread-safe (each call counts into a private table first). */
typedef struct agpt_tok_counter agpt_tok_counter;
agpt_status agpt_tok_counter_new(agpt_tok_pattern pattern, agpt_tok_counter **out);
void agpt_tok_counter_free(agpt_tok_counter *c);
/* Counts the pre-tokens of text[0..len), splitting the work over `threads`
 * OpenMP threads (<= 0: default) at line boundaries. Safe to call from
 * several threads at once. */
agpt_status agpt_tok_counter_add(agpt_tok_counter *c, const char *text, size_t len, int threads);
/* Counts n independent documents (docs[i][0..lens[i])), in parallel over
 * `threads`; pre-tokens never span two documents. Thread-safe like _add. */
agpt_status agpt_tok_counter_add_docs(agpt_tok_counter *c, const char *const *docs, const size_t *lens, size_t n,
                                      int threads);
/* Number of distinct pre-tokens counted so far. */
size_t agpt_tok_counter_words(const agpt_tok_counter *c);

/* Learns merges from the counted words. Deterministic: the same counts give
 * the same tokenizer for any thread count. *out is owned by the caller. */
agpt_status agpt_tok_train(const agpt_tok_counter *c, const agpt_tok_train_opts *opts, agpt_tok **out);

#endif
