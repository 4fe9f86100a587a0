/*
 * pcomp.h — the C API of the pcomp engine.
 *
 * Opaque handles, status codes, and one thread-local error message. The Node addon
 * (engine/napi) and the native tests (test/native) use only this header.
 *
 * Threading: a pcomp_model is read-only after loading and may be shared by concurrent calls;
 * a pcomp_session (one sample's KV cache and scratch) belongs to one thread at a time.
 */
#ifndef PCOMP_H
#define PCOMP_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define PCOMP_API_VERSION 1

typedef enum {
  PCOMP_OK = 0,
  PCOMP_ERR_INPUT = 1,     /* bad file, bad config, bad argument: pcomp_last_error() says which */
  PCOMP_ERR_CANCELLED = 2, /* the cancel flag was raised; partial work is discarded */
  PCOMP_ERR_INTERNAL = 3   /* a bug or an allocation failure */
} pcomp_status;

typedef struct pcomp_model pcomp_model;
typedef struct pcomp_session pcomp_session;

/* Version of this header the library was built with (compare with PCOMP_API_VERSION). */
int pcomp_api_version(void);
/* JSON object: version, compiler, simd, cuda_compiled, cuda_available, cuda_reason, threads. */
const char* pcomp_build_info(void);
/* Message of the last failed call on this thread ("" when none). */
const char* pcomp_last_error(void);
/* Worker threads for all CPU work (0 = number of cores). */
void pcomp_set_threads(int n);
int pcomp_get_threads(void);

/* Loads an HF model folder (config.json + model.safetensors or a sharded index), for the CPU. */
pcomp_status pcomp_model_load(const char* dir, pcomp_model** out);
/*
 * Like pcomp_model_load, with options_json (NULL or "" = defaults): {"device": "cpu" | "cuda" | "auto"}.
 *   cpu (default)  every call runs on the CPU.
 *   cuda           the weights are uploaded to the GPU once (bf16 matrices); pcomp_run runs the CUDA
 *                  pipeline (ParallelComp and full). A config knob that pipeline does not implement
 *                  makes pcomp_run fail with PCOMP_ERR_INPUT naming the knob; it never falls back to
 *                  the CPU. pcomp_prefill, pcomp_prefill_logprobs and pcomp_decode_greedy on a
 *                  session of such a model fail with PCOMP_ERR_INPUT (they exist on the CPU only).
 *                  Without a usable GPU the load fails with PCOMP_ERR_INPUT and the reason
 *                  (pcomp_build_info's cuda_reason).
 *   auto           cuda when the build has CUDA and a usable GPU is present, else cpu.
 * pcomp_model_info's "device" says which was chosen.
 */
pcomp_status pcomp_model_load_ex(const char* dir, const char* options_json, pcomp_model** out);
void pcomp_model_free(pcomp_model* m);
/* JSON object describing the model (config values, weight dtype, bytes, "device": "cpu" | "cuda";
 * on cuda also "device_name" and "device_weight_bytes"). Owned by the model. */
const char* pcomp_model_info(const pcomp_model* m);

/* A session: one sample's KV cache of several sequences, plus scratch buffers. */
pcomp_status pcomp_session_new(pcomp_model* m, pcomp_session** out);
void pcomp_session_free(pcomp_session* s);
/* While *flag is non-zero, long calls on this session stop with PCOMP_ERR_CANCELLED. */
void pcomp_session_set_cancel(pcomp_session* s, const int32_t* flag);
/* A new empty sequence; returns its id (>= 0) or -1. */
int pcomp_seq_new(pcomp_session* s);
void pcomp_seq_free(pcomp_session* s, int seq);
/* Entries of one (layer, KV head) of a sequence. */
int pcomp_seq_length(const pcomp_session* s, int seq, int layer, int kv_head);
/* Keeps only entries keep[0..n) (strictly increasing) of one (layer, KV head). */
pcomp_status pcomp_seq_gather(pcomp_session* s, int seq, int layer, int kv_head, const int32_t* keep, int n);
/* Drops every entry from index n on, in every head. */
pcomp_status pcomp_seq_truncate(pcomp_session* s, int seq, int n);
/* A new sequence holding seqs[0..n) concatenated in order; *out receives its id. */
pcomp_status pcomp_seq_concat(pcomp_session* s, const int* seqs, int n, int* out);
/* Bytes of K/V held now and at peak. */
size_t pcomp_session_cache_bytes(const pcomp_session* s, size_t* peak);

typedef enum { PCOMP_LOGITS_NONE = 0, PCOMP_LOGITS_LAST = 1, PCOMP_LOGITS_ALL = 2 } pcomp_logits_mode;

/*
 * Appends n_tokens[i] tokens to sequence seq_ids[i] for every i < n_seqs, in one batched forward.
 * positions[i] may be NULL (0..n-1 relative to nothing: plain 0-based ids) — pass explicit ids to
 * reuse positions across sequences. logits_out receives [n_seqs, vocab] (LAST) or
 * [sum n_tokens, vocab] (ALL); it may be NULL with PCOMP_LOGITS_NONE.
 */
pcomp_status pcomp_prefill(pcomp_session* s, int n_seqs, const int* seq_ids, const int32_t* const* tokens,
                           const int32_t* const* positions, const int* n_tokens, pcomp_logits_mode mode,
                           float* logits_out);

/*
 * Like pcomp_prefill for one sequence, and writes logprob[i] = log p(targets[i] | tokens[..i])
 * for every i with targets[i] >= 0 (full-vocabulary logits are never kept for all positions).
 */
pcomp_status pcomp_prefill_logprobs(pcomp_session* s, int seq, const int32_t* tokens, const int32_t* positions,
                                    int n, const int32_t* targets, float* logprob);

typedef struct {
  int max_new_tokens;       /* stop after this many new tokens */
  const int32_t* stop_ids;  /* generation stops after emitting any of these (not included in out) */
  int n_stop_ids;
  int first_position;       /* position id of the first generated token's input; -1 = sequence length */
} pcomp_generate_params;

pcomp_generate_params pcomp_generate_default_params(void);

/* Called after each generated token; return non-zero to stop. */
typedef int (*pcomp_token_callback)(void* user, int32_t token, int n_done);

/*
 * Greedy decoding on a sequence whose last prefill left its logits in `last_logits` ([vocab]).
 * Writes at most params->max_new_tokens ids to out; *n_out receives the count.
 */
pcomp_status pcomp_decode_greedy(pcomp_session* s, int seq, const float* last_logits,
                                 const pcomp_generate_params* params, int32_t* out, int* n_out,
                                 pcomp_token_callback cb, void* user);

/*
 * Runs one sample through a policy pipeline (ParallelComp and baselines). On a cuda model the trace
 * has "device": "cuda", the CPU trace's fields except kvKept, globalCache, finalCache and the
 * cacheBytes* pair, and peakDeviceBytes, prefillSeconds, decodeSeconds; progress reports only
 * the prefill's start and end, and the cancel flag is read before the sample starts.
 * chunks: n_chunks token arrays (context template applied per chunk); question: the question
 * template's tokens; config_json: the resolved policy config (see engine/presets). The result holds
 * generated tokens, per-token NLL where requested, and a JSON trace.
 */
typedef struct {
  const int32_t* const* chunks;
  const int* chunk_lens;
  int n_chunks;
  const int32_t* question;
  int question_len;
  const int32_t* eval_tokens; /* optional: tokens scored after the question (perplexity) */
  int eval_len;
  int max_new_tokens;
  const int32_t* stop_ids;
  int n_stop_ids;
} pcomp_sample;

typedef struct pcomp_result pcomp_result;
typedef void (*pcomp_progress_callback)(void* user, const char* stage, int done, int total);

pcomp_status pcomp_run(pcomp_session* s, const pcomp_sample* sample, const char* config_json,
                       pcomp_progress_callback cb, void* user, pcomp_result** out);
/*
 * Checks a resolved policy config against a model without running anything: PCOMP_ERR_INPUT names
 * the key at fault, a calibration rule past the model's layers, or, on a cuda model, the knob the
 * CUDA pipeline does not implement. Refusals that depend on a sample (a 1-token question, chunks of
 * which only some start with BOS) still come from pcomp_run.
 */
pcomp_status pcomp_config_check(const pcomp_model* m, const char* config_json);
/*
 * The knob schema this library was built with (engine/knobs.json, embedded at build time) as the
 * engine reads it: {"source": the file's text, "knobs": [{key, type, min, max, odd, minExclusive,
 * maxExclusive, values | regions, range, host, default}], "stages": [{key, section, keys}]}, where
 * a knob's default is the value the engine holds after applying it and a stage's keys are the
 * registry keys it can name. NULL when the embedded schema is invalid (pcomp_last_error names the
 * entry). Owned by the library.
 */
const char* pcomp_knob_schema(void);
/*
 * Validates a resolved policy config without a model (the checks pcomp_config_check makes before the
 * model's own) and returns it as the engine holds it, as JSON: preset, retrieval, pipeline and every
 * engine knob after defaults (host-only knobs are refused, never held). NULL on error
 * (pcomp_last_error names the key). The string is valid until the next call on this thread.
 */
const char* pcomp_config_resolve(const char* config_json);
const int32_t* pcomp_result_tokens(const pcomp_result* r, int* n);
const float* pcomp_result_nll(const pcomp_result* r, int* n);
const char* pcomp_result_trace(const pcomp_result* r);
void pcomp_result_free(pcomp_result* r);

#ifdef __cplusplus
}
#endif

#endif /* PCOMP_H */
