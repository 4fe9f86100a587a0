#include "model.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>
#include <sys/stat.h>

#include "error.h"
#include "json.h"
#include "backend/cpu/kernels.h"

namespace pcomp {

namespace {

bool file_exists(const std::string& p) {
  struct stat st {};
  return ::stat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

std::string read_text(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw EngineError(path + ": cannot read file");
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

JsonValue parse_file(const std::string& path) {
  std::string text = read_text(path);
  try {
    return json_parse(text.data(), text.size());
  } catch (const JsonError& e) {
    throw EngineError(path + ": not valid JSON (" + e.what() + ")");
  }
}

double num_field(const JsonValue& o, const std::string& key, const std::string& path, bool required, double dflt) {
  const JsonValue* v = o.get(key);
  if (!v || v->is_null()) {
    if (required) throw EngineError(path + ": missing field \"" + key + "\"");
    return dflt;
  }
  if (!v->is_number()) throw EngineError(path + ": field \"" + key + "\" must be a number");
  return v->num;
}

bool bool_field(const JsonValue& o, const std::string& key, const std::string& path, bool dflt) {
  const JsonValue* v = o.get(key);
  if (!v || v->is_null()) return dflt;
  if (v->kind != JsonValue::Bool) throw EngineError(path + ": field \"" + key + "\" must be true or false");
  return v->b;
}

int pos_int(const JsonValue& o, const std::string& key, const std::string& path) {
  double d = num_field(o, key, path, true, 0);
  if (d <= 0 || d != double(int64_t(d))) throw EngineError(path + ": field \"" + key + "\" must be a positive integer");
  return int(d);
}

std::string shape_str(const std::vector<int64_t>& s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + "]";
}

// rope_scaling {"rope_type": "yarn"} as transformers' _compute_yarn_parameters reads it: factor as
// given; original_max_position_embeddings, else max_position_embeddings; beta_fast / beta_slow with
// Python's `or` (absent, null or 0 give 32 / 1); truncate (default true: floor/ceil the correction
// range); attention_factor as given, else get_mscale(factor, mscale) / get_mscale(factor,
// mscale_all_dim) when both are set and non-zero, else get_mscale(factor), where get_mscale(s, m) =
// 1 for s <= 1 and 0.1 m ln(s) + 1 otherwise. Any other key changes nothing transformers computes
// only if it is one of these, so an unknown key is refused by name.
void parse_yarn(const JsonValue& rs, const std::string& rpath, ModelConfig& c) {
  static const std::set<std::string> known = {"rope_type", "type", "factor", "original_max_position_embeddings",
                                              "attention_factor", "beta_fast", "beta_slow", "mscale",
                                              "mscale_all_dim", "truncate", "rope_theta"};
  for (const auto& kv : rs.obj)
    if (!known.count(kv.first))
      throw EngineError(rpath + ": field \"" + kv.first + "\" is not implemented for yarn (known: factor, "
                        "original_max_position_embeddings, attention_factor, beta_fast, beta_slow, mscale, "
                        "mscale_all_dim, truncate)");
  const double factor = c.rope_factor;
  const double omp = num_field(rs, "original_max_position_embeddings", rpath, false, 0);
  if (omp != 0 && (omp < 1 || omp != double(int64_t(omp))))
    throw EngineError(rpath + ": field \"original_max_position_embeddings\" must be a positive integer");
  c.orig_max_pos = omp > 0 ? int(omp) : c.max_pos;
  auto truthy = [&](const char* key, double dflt) {
    const double v = num_field(rs, key, rpath, false, 0);
    return v != 0 ? v : dflt;
  };
  c.beta_fast = truthy("beta_fast", 32.0);
  c.beta_slow = truthy("beta_slow", 1.0);
  c.yarn_truncate = bool_field(rs, "truncate", rpath, true);
  auto get_mscale = [&](double s, double m) { return s <= 1 ? 1.0 : 0.1 * m * std::log(s) + 1.0; };
  const JsonValue* af = rs.get("attention_factor");
  if (af && !af->is_null()) {
    if (!af->is_number() || af->num <= 0) throw EngineError(rpath + ": field \"attention_factor\" must be a positive number");
    c.attn_factor = af->num;
  } else {
    const double ms = num_field(rs, "mscale", rpath, false, 0), msa = num_field(rs, "mscale_all_dim", rpath, false, 0);
    c.attn_factor = ms != 0 && msa != 0 ? get_mscale(factor, ms) / get_mscale(factor, msa) : get_mscale(factor, 1.0);
  }
}

// rope_scaling {"rope_type": "longrope"} (or legacy "su") of Phi3, as transformers'
// _compute_longrope_parameters and Phi3's longrope_frequency_update read it: short_factor /
// long_factor, one per rotated pair; the original window from original_max_position_embeddings
// (top level, as Phi3Config holds it, or inside rope_scaling); factor = max_position_embeddings /
// original window (transformers versions disagree on a rope_scaling "factor", so one is refused);
// attention_factor as given, else sqrt(1 + ln(factor) / ln(original window)) when factor > 1, else 1.
void parse_longrope(const JsonValue& j, const JsonValue& rs, const std::string& path, const std::string& rpath,
                    ModelConfig& c) {
  static const std::set<std::string> known = {"rope_type", "type", "short_factor", "long_factor",
                                              "attention_factor", "original_max_position_embeddings", "rope_theta"};
  for (const auto& kv : rs.obj)
    if (!known.count(kv.first))
      throw EngineError(rpath + ": field \"" + kv.first + "\" is not implemented for longrope (known: short_factor, "
                        "long_factor, attention_factor, original_max_position_embeddings)");
  auto factors = [&](const char* key) {
    const JsonValue* v = rs.get(key);
    if (!v || !v->is_array() || int(v->arr.size()) != c.rot_dim / 2)
      throw EngineError(rpath + ": field \"" + key + "\" must list " + std::to_string(c.rot_dim / 2) +
                        " numbers (one per rotated pair: head_dim * partial_rotary_factor / 2)");
    std::vector<double> out;
    for (const auto& e : v->arr) {
      if (!e.is_number() || e.num <= 0) throw EngineError(rpath + ": field \"" + key + "\" must hold positive numbers");
      out.push_back(e.num);
    }
    return out;
  };
  c.short_factor = factors("short_factor");
  c.long_factor = factors("long_factor");
  const double top = num_field(j, "original_max_position_embeddings", path, false, 0);
  const double inner = num_field(rs, "original_max_position_embeddings", rpath, false, 0);
  if (top != 0 && inner != 0 && top != inner)
    throw EngineError(path + ": original_max_position_embeddings differs at the top level and in " + rpath.substr(path.size() + 2));
  const double omp = inner != 0 ? inner : top;
  if (omp < 1 || omp != double(int64_t(omp)))
    throw EngineError(rpath + ": longrope needs the original window: field \"original_max_position_embeddings\" (top level, "
                      "as Phi3Config, or here) must be a positive integer");
  c.orig_max_pos = int(omp);
  c.rope_factor = double(c.max_pos) / double(c.orig_max_pos);
  const JsonValue* af = rs.get("attention_factor");
  if (af && !af->is_null()) {
    if (!af->is_number() || af->num <= 0) throw EngineError(rpath + ": field \"attention_factor\" must be a positive number");
    c.attn_factor = af->num;
  } else {
    c.attn_factor = c.rope_factor <= 1 ? 1.0 : std::sqrt(1 + std::log(c.rope_factor) / std::log(double(c.orig_max_pos)));
  }
}

}  // namespace

ModelConfig parse_config(const std::string& text, const std::string& path) {
  JsonValue j;
  try {
    j = json_parse(text.data(), text.size());
  } catch (const JsonError& e) {
    throw EngineError(path + ": not valid JSON (" + e.what() + ")");
  }
  if (!j.is_object()) throw EngineError(path + ": expected a JSON object");
  {
    // Python's json (what transformers reads config.json with) keeps the last of duplicate keys,
    // this parser's get() the first: a duplicated field is ambiguous, so refused.
    std::set<std::string> seen;
    for (const auto& kv : j.obj)
      if (!seen.insert(kv.first).second) throw EngineError(path + ": field \"" + kv.first + "\" appears twice");
  }
  ModelConfig c;
  const JsonValue* archs = j.get("architectures");
  if (archs && archs->is_array() && !archs->arr.empty() && archs->arr[0].is_string()) c.architecture = archs->arr[0].str;
  else {
    const JsonValue* mt = j.get("model_type");
    std::string t = mt && mt->is_string() ? mt->str : "";
    if (t == "llama") c.architecture = "LlamaForCausalLM";
    else if (t == "mistral") c.architecture = "MistralForCausalLM";
    else if (t == "qwen2") c.architecture = "Qwen2ForCausalLM";
    else if (t == "qwen3") c.architecture = "Qwen3ForCausalLM";
    else if (t == "phi3") c.architecture = "Phi3ForCausalLM";
    else throw EngineError(path + ": missing field \"architectures\" (and \"model_type\" is not llama, mistral, qwen2, qwen3 or phi3)");
  }
  static const std::set<std::string> supported = {"LlamaForCausalLM", "MistralForCausalLM", "Qwen2ForCausalLM",
                                                   "Qwen3ForCausalLM", "Phi3ForCausalLM"};
  if (!supported.count(c.architecture))
    throw EngineError(path + ": field \"architectures\": unsupported architecture \"" + c.architecture +
                      "\" (supported: LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM, Qwen3ForCausalLM, Phi3ForCausalLM)");
  const bool qwen3 = c.architecture == "Qwen3ForCausalLM";
  const bool phi3 = c.architecture == "Phi3ForCausalLM";
  // Phi3Attention's qkv_proj and Phi3MLP's gate_up_proj (gate first, up second), no biases.
  c.fused = phi3;
  c.dim = pos_int(j, "hidden_size", path);
  c.hidden = pos_int(j, "intermediate_size", path);
  c.n_layers = pos_int(j, "num_hidden_layers", path);
  c.n_heads = pos_int(j, "num_attention_heads", path);
  c.n_kv_heads = j.get("num_key_value_heads") && !j.get("num_key_value_heads")->is_null() ? pos_int(j, "num_key_value_heads", path) : c.n_heads;
  c.vocab = pos_int(j, "vocab_size", path);
  c.max_pos = pos_int(j, "max_position_embeddings", path);
  const JsonValue* hd = j.get("head_dim");
  if (hd && !hd->is_null()) c.head_dim = pos_int(j, "head_dim", path);
  else if (qwen3) {
    // Qwen3Config's own default is 128, not hidden_size / num_attention_heads: a config that leaves
    // it out is read differently by readers that derive it; refused rather than guessed.
    throw EngineError(path + ": missing field \"head_dim\" (Qwen3Config defaults it to 128, not hidden_size / "
                      "num_attention_heads; state it)");
  } else {
    if (c.dim % c.n_heads) throw EngineError(path + ": hidden_size is not a multiple of num_attention_heads");
    c.head_dim = c.dim / c.n_heads;
  }
  if (c.head_dim % 2) throw EngineError(path + ": head_dim must be even for RoPE");
  if (c.n_heads % c.n_kv_heads)
    throw EngineError(path + ": num_attention_heads must be a multiple of num_key_value_heads");
  c.eps = float(num_field(j, "rms_norm_eps", path, false, 1e-6));
  c.rope_theta = num_field(j, "rope_theta", path, false, 10000.0);
  const JsonValue* act = j.get("hidden_act");
  if (act && !act->is_null() && !act->is_string()) throw EngineError(path + ": field \"hidden_act\" must be a string");
  if (act && act->is_string() && act->str != "silu")
    throw EngineError(path + ": field \"hidden_act\": unsupported activation \"" + act->str + "\" (supported: silu)");
  const bool llama = c.architecture == "LlamaForCausalLM", qwen2 = c.architecture == "Qwen2ForCausalLM";
  c.tied = bool_field(j, "tie_word_embeddings", path, false);
  // Biases as transformers builds them: LlamaAttention gives q/k/v/o_proj bias=config.attention_bias
  // and LlamaMLP gives gate/up/down_proj bias=config.mlp_bias; Qwen2Attention has q/k/v bias=True and
  // o_proj bias=False, Qwen2MLP none; MistralAttention and MistralMLP have no biases. Mistral and
  // Qwen2 do not read attention_bias or mlp_bias, so a config that sets them true there describes a
  // checkpoint transformers would load differently from what its author meant: refused.
  const bool attention_bias = bool_field(j, "attention_bias", path, false);
  const bool mlp_bias = bool_field(j, "mlp_bias", path, false);
  // Qwen3Attention gives q/k/v/o_proj bias=config.attention_bias (like Llama); Qwen3MLP has none.
  if (!llama && !qwen3 && attention_bias)
    throw EngineError(path + ": field \"attention_bias\": true is not read by transformers' " + c.architecture +
                      " (its projections' biases are fixed by the architecture); refusing rather than guessing");
  if (!llama && mlp_bias)
    throw EngineError(path + ": field \"mlp_bias\": true is not read by transformers' " + c.architecture +
                      " (its MLP has no biases); refusing rather than guessing");
  c.qkv_bias = qwen2 || attention_bias;
  c.o_bias = (llama || qwen3) && attention_bias;
  // Qwen3Attention: q_norm / k_norm (RMSNorm over head_dim, eps = rms_norm_eps) on every head before RoPE.
  c.qk_norm = qwen3;
  c.mlp_bias = llama && mlp_bias;
  // pretraining_tp > 1: transformers before 4.48 split the projections into that many slices and
  // summed them (the same product) but dropped the biases on that path; later versions ignore the
  // field. Harmless without biases, ambiguous with them.
  const JsonValue* tp = j.get("pretraining_tp");
  if (tp && !tp->is_null()) {
    if (!tp->is_number() || tp->num < 1 || tp->num != double(int64_t(tp->num)))
      throw EngineError(path + ": field \"pretraining_tp\" must be a positive integer");
    if (tp->num > 1 && (attention_bias || mlp_bias))
      throw EngineError(path + ": field \"pretraining_tp\": " + std::to_string(int64_t(tp->num)) +
                        " together with attention_bias/mlp_bias is computed differently by different transformers "
                        "versions (the sliced path drops the biases); not supported");
  }
  // Only part of each head rotated: Phi3 (its apply_rotary_pos_emb rotates the first
  // int(head_dim * partial_rotary_factor) dims and passes the rest); not implemented elsewhere.
  const JsonValue* prf = j.get("partial_rotary_factor");
  c.rot_dim = c.head_dim;
  if (prf && !prf->is_null() && !(prf->is_number() && prf->num == 1.0)) {
    if (!phi3)
      throw EngineError(path + ": field \"partial_rotary_factor\": only 1.0 (RoPE on the whole head) is supported for " +
                        c.architecture);
    if (!prf->is_number() || prf->num <= 0 || prf->num > 1)
      throw EngineError(path + ": field \"partial_rotary_factor\" must be a number in (0, 1]");
    c.rot_dim = int(c.head_dim * prf->num);
    if (c.rot_dim < 2 || c.rot_dim % 2)
      throw EngineError(path + ": field \"partial_rotary_factor\": head_dim * factor = " + std::to_string(c.rot_dim) +
                        " rotated dims; must be even and >= 2");
  }
  const JsonValue* qc = j.get("quantization_config");
  if (qc && !qc->is_null())
    throw EngineError(path + ": field \"quantization_config\": quantized checkpoints are not supported (f32, f16 and bf16 only)");
  // Sliding-window attention. Mistral: every layer when sliding_window is a number. Qwen2: only when
  // use_sliding_window, and then only on layers with index >= max_window_layers (Qwen2Config); the
  // engine applies one window to every layer, so a mix of windowed and full layers is refused. Llama
  // has no sliding window (transformers ignores the field there). A newer config may spell the same
  // thing as layer_types ("full_attention" / "sliding_attention" per layer), which wins when present.
  // The window itself: query i sees the last sliding_window cache entries, itself included, as
  // transformers' sliding-window mask (kv_idx > q_idx - sliding_window) does.
  const JsonValue* sw = j.get("sliding_window");
  if (sw && !sw->is_null() && !(sw->is_number() && sw->num >= 0 && sw->num == double(int64_t(sw->num))))
    throw EngineError(path + ": field \"sliding_window\" must be a non-negative integer or null");
  const int window = sw && sw->is_number() ? int(sw->num) : 0;
  int windowed_layers = 0;  // how many layers the config windows (all of them, or none, are supported)
  if (c.architecture == "MistralForCausalLM" || phi3) {  // Phi3Attention: config.sliding_window on every layer
    windowed_layers = window > 0 ? c.n_layers : 0;
  } else if (qwen2 || qwen3) {
    if (bool_field(j, "use_sliding_window", path, false) && window > 0) {
      const JsonValue* mwl = j.get("max_window_layers");
      int first = 0;
      if (mwl && !mwl->is_null()) {
        if (!mwl->is_number() || mwl->num < 0 || mwl->num != double(int64_t(mwl->num)))
          throw EngineError(path + ": field \"max_window_layers\" must be a non-negative integer");
        first = int(std::min<double>(mwl->num, c.n_layers));
      } else {
        first = std::min(28, c.n_layers);  // Qwen2Config's and Qwen3Config's default
      }
      windowed_layers = c.n_layers - first;
    }
  }
  const JsonValue* lt = j.get("layer_types");
  if (lt && !lt->is_null()) {
    if (!lt->is_array() || int(lt->arr.size()) != c.n_layers)
      throw EngineError(path + ": field \"layer_types\" must list one entry per layer (num_hidden_layers = " +
                        std::to_string(c.n_layers) + ")");
    windowed_layers = 0;
    for (const auto& e : lt->arr) {
      if (!e.is_string() || (e.str != "full_attention" && e.str != "sliding_attention"))
        throw EngineError(path + ": field \"layer_types\": unsupported entry (supported: full_attention, sliding_attention)");
      if (e.str == "sliding_attention") ++windowed_layers;
    }
    if (windowed_layers > 0 && window <= 0)
      throw EngineError(path + ": field \"layer_types\" names sliding_attention layers but sliding_window is not set");
  }
  if (windowed_layers != 0 && windowed_layers != c.n_layers)
    throw EngineError(path + ": sliding-window attention on " + std::to_string(windowed_layers) + " of " +
                      std::to_string(c.n_layers) + " layers (fields \"use_sliding_window\", \"max_window_layers\", "
                      "\"layer_types\") is not supported: only all layers or none");
  if (windowed_layers == c.n_layers) c.sliding_window = window;
  const JsonValue* rs = j.get("rope_scaling");
  std::string rs_name = "rope_scaling";
  {
    // transformers 5 writes the same dictionary as rope_parameters (rope_theta inside it).
    const JsonValue* rp = j.get("rope_parameters");
    if (rp && !rp->is_null()) {
      if (rs && !rs->is_null())
        throw EngineError(path + ": fields \"rope_scaling\" and \"rope_parameters\" are both set; refusing rather than guessing which one transformers reads");
      if (!rp->is_object()) throw EngineError(path + ": field \"rope_parameters\" must be an object or null");
      rs = rp;
      rs_name = "rope_parameters";
      if (const JsonValue* th = rp->get("rope_theta")) {
        if (!th->is_number() || th->num <= 0) throw EngineError(path + ": rope_parameters: field \"rope_theta\" must be a positive number");
        c.rope_theta = th->num;
      }
    }
  }
  if (rs && rs->is_object()) {
    const JsonValue* t = rs->get("rope_type");
    if (!t) t = rs->get("type");
    std::string type = t && t->is_string() ? t->str : "";
    std::string rpath = path + ": " + rs_name;
    if (type == "default") c.rope_type = RopeType::Default;
    else if (type == "linear") c.rope_type = RopeType::Linear;
    else if (type == "dynamic") c.rope_type = RopeType::Dynamic;
    else if (type == "llama3") c.rope_type = RopeType::Llama3;
    else if (type == "yarn") c.rope_type = RopeType::Yarn;
    else if ((type == "longrope" || type == "su") && phi3) c.rope_type = RopeType::LongRope;  // Phi3Config renames su
    else throw EngineError(rpath + ": field \"rope_type\": unsupported value \"" + type + "\" (supported: default, linear, dynamic, llama3, yarn; longrope / su on Phi3ForCausalLM)");
    if (c.rope_type == RopeType::LongRope) parse_longrope(j, *rs, path, rpath, c);
    else if (c.rope_type != RopeType::Default) {
      c.rope_factor = num_field(*rs, "factor", rpath, true, 1.0);
      if (c.rope_factor < 1.0 && c.rope_type != RopeType::Linear)
        throw EngineError(rpath + ": field \"factor\" must be >= 1");
      if (c.rope_factor <= 0) throw EngineError(rpath + ": field \"factor\" must be > 0");
    }
    if (c.rope_type == RopeType::Llama3) {
      c.low_freq_factor = num_field(*rs, "low_freq_factor", rpath, true, 1.0);
      c.high_freq_factor = num_field(*rs, "high_freq_factor", rpath, true, 4.0);
      c.orig_max_pos = int(num_field(*rs, "original_max_position_embeddings", rpath, true, 8192));
    }
    if (c.rope_type == RopeType::Yarn) parse_yarn(*rs, rpath, c);
  } else if (rs && !rs->is_null()) {
    throw EngineError(path + ": field \"rope_scaling\" must be an object or null");
  }
  const JsonValue* bos = j.get("bos_token_id");
  if (bos && bos->is_number()) c.bos = int(bos->num);
  const JsonValue* eos = j.get("eos_token_id");
  if (eos && eos->is_number()) c.eos.push_back(int(eos->num));
  if (eos && eos->is_array())
    for (const auto& e : eos->arr)
      if (e.is_number()) c.eos.push_back(int(e.num));
  const JsonValue* td = j.get("torch_dtype");
  if (td && td->is_string()) c.torch_dtype = td->str;
  return c;
}

WeightStorage weight_storage_from_env() {
  const char* v = std::getenv("PCOMP_WEIGHTS");
  const std::string s = v ? v : "";
  if (s.empty() || s == "auto") return WeightStorage::Auto;
  if (s == "f32") return WeightStorage::F32;
  if (s == "bf16") return WeightStorage::BF16;
  throw EngineError("PCOMP_WEIGHTS=" + s + ": expected f32, bf16 or auto");
}

std::unique_ptr<Model> load_model(const std::string& dir) { return load_model(dir, weight_storage_from_env()); }

std::unique_ptr<Model> load_model(const std::string& dir, WeightStorage storage) {
  auto m = std::make_unique<Model>();
  m->dir = dir;
  const std::string cfg_path = dir + "/config.json";
  if (!file_exists(cfg_path)) throw EngineError(cfg_path + ": missing (a model folder needs config.json)");
  m->cfg = parse_config(read_text(cfg_path), cfg_path);
  const ModelConfig& c = m->cfg;

  // Locate tensors: single file or sharded index.
  std::map<std::string, const TensorInfo*> where;
  std::map<std::string, std::string> indexed;  // tensor -> shard path named by the index
  const std::string single = dir + "/model.safetensors";
  const std::string index = dir + "/model.safetensors.index.json";
  if (file_exists(single)) {
    m->files.emplace_back(new SafetensorsFile(single));
  } else if (file_exists(index)) {
    JsonValue idx = parse_file(index);
    const JsonValue* wm = idx.get("weight_map");
    if (!wm || !wm->is_object()) throw EngineError(index + ": missing field \"weight_map\"");
    std::set<std::string> shards;
    for (const auto& kv : wm->obj) {
      if (!kv.second.is_string()) throw EngineError(index + ": weight_map[\"" + kv.first + "\"] must be a file name");
      shards.insert(kv.second.str);
      indexed[kv.first] = dir + "/" + kv.second.str;
    }
    for (const auto& s : shards) {
      if (s.find('/') != std::string::npos || s.find("..") != std::string::npos)
        throw EngineError(index + ": weight_map names a file outside the model folder: " + s);
      if (!file_exists(dir + "/" + s)) throw EngineError(dir + "/" + s + ": missing shard listed in " + index);
      m->files.emplace_back(new SafetensorsFile(dir + "/" + s));
    }
    // The index and its shards must agree: every tensor a shard holds is listed, for that shard.
    // (A listed tensor missing from its shard is reported when the tensor is needed, or below.)
    for (const auto& f : m->files)
      for (const auto& kv : f->tensors()) {
        auto ix = indexed.find(kv.first);
        if (ix == indexed.end())
          throw EngineError(f->path() + ": tensor '" + kv.first + "' is not listed in the weight_map of " + index);
        if (ix->second != f->path())
          throw EngineError(f->path() + ": tensor '" + kv.first + "' is listed in " + index + " for " + ix->second +
                            ", not for this shard");
      }
  } else {
    throw EngineError(dir + ": no model.safetensors or model.safetensors.index.json found");
  }
  for (const auto& f : m->files)
    for (const auto& kv : f->tensors()) {
      if (where.count(kv.first)) throw EngineError(f->path() + ": tensor '" + kv.first + "' appears in more than one file");
      where[kv.first] = &kv.second;
    }
  for (const auto& kv : indexed)
    if (!where.count(kv.first))
      throw EngineError(kv.second + ": tensor '" + kv.first + "' is listed in the index but missing from this shard");
  // Layer count: the files must hold exactly layers 0 .. num_hidden_layers - 1.
  {
    std::set<int> present;
    const std::string lp = "model.layers.";
    for (const auto& kv : where) {
      if (kv.first.compare(0, lp.size(), lp) != 0) continue;
      size_t i = lp.size(), j = i;
      while (j < kv.first.size() && kv.first[j] >= '0' && kv.first[j] <= '9') ++j;
      if (j == i || j - i > 9 || j >= kv.first.size() || kv.first[j] != '.') continue;  // refused below as unknown
      const int l = std::stoi(kv.first.substr(i, j - i));
      present.insert(l);
      if (l >= c.n_layers)
        throw EngineError(kv.second->file + ": tensor '" + kv.first + "' belongs to layer " + std::to_string(l) + " but " +
                          cfg_path + " says num_hidden_layers = " + std::to_string(c.n_layers) +
                          " (the checkpoint has more layers than its config)");
    }
    for (int l = 0; l < c.n_layers; ++l)
      if (!present.count(l)) {
        const std::string file = m->files.size() == 1 ? m->files[0]->path() : index;
        throw EngineError(file + ": no tensor of layer " + std::to_string(l) + " (model.layers." + std::to_string(l) +
                          ".*) but " + cfg_path + " says num_hidden_layers = " + std::to_string(c.n_layers) +
                          " (the checkpoint has " + std::to_string(present.size()) + " layers)");
      }
  }
  std::set<std::string> used;

  std::set<std::string> dtypes;
  auto find = [&](const std::string& name, const std::vector<int64_t>& shape, bool required) -> const TensorInfo* {
    auto it = where.find(name);
    if (it == where.end()) {
      if (!required) return nullptr;
      // Name the file that should have held it: the single file, the shard the index points to,
      // or the index itself when it does not list the tensor.
      std::string file = single;
      std::string what = "is missing";
      if (!m->files.empty() && m->files[0]->path() != single) {
        auto ix = indexed.find(name);
        if (ix != indexed.end()) file = ix->second, what = "is listed in the index but missing from this shard";
        else file = index, what = "is not listed in weight_map";
      }
      throw EngineError(file + ": tensor '" + name + "' " + what + " (required by " + c.architecture + ")");
    }
    const TensorInfo& t = *it->second;
    used.insert(name);
    if (t.shape != shape)
      throw EngineError(t.file + ": tensor '" + name + "' has shape " + shape_str(t.shape) + " but config.json implies " +
                        shape_str(shape));
    dtypes.insert(dtype_name(t.dtype));
    return &t;
  };
  auto to_f32 = [&](const TensorInfo& t) -> const float* {
    const size_t n = size_t(t.numel());
    m->weight_bytes += n * 4;
    if (t.dtype == DType::F32 && reinterpret_cast<uintptr_t>(t.data) % 4 == 0)
      return reinterpret_cast<const float*>(t.data);  // zero-copy from the mapping
    m->owned.emplace_back(n);
    convert_to_f32(t.dtype, t.data, m->owned.back().data(), n);
    return m->owned.back().data();
  };
  auto get = [&](const std::string& name, std::vector<int64_t> shape, bool required = true) -> const float* {
    const TensorInfo* t = find(name, shape, required);
    return t ? to_f32(*t) : nullptr;
  };
  // The storage of the matrices follows the first one's file dtype under Auto, so a model is never
  // half bf16 and half f32.
  bool bf16 = storage == WeightStorage::BF16;
  bool decided = storage != WeightStorage::Auto;
  auto get_matrix = [&](const std::string& name, std::vector<int64_t> shape, bool required = true) -> Weight {
    const TensorInfo* t = find(name, shape, required);
    if (!t) return Weight();
    if (!decided) bf16 = t->dtype == DType::BF16, decided = true;
    if (!bf16) return Weight(to_f32(*t));
    const size_t n = size_t(t->numel());
    m->weight_bytes += n * 2;
    if (t->dtype == DType::BF16 && reinterpret_cast<uintptr_t>(t->data) % 2 == 0)
      return Weight::from_bf16(reinterpret_cast<const uint16_t*>(t->data));  // zero-copy
    std::vector<float> f(n);
    convert_to_f32(t->dtype, t->data, f.data(), n);
    m->owned_bf16.emplace_back(n);
    std::vector<uint16_t>& out = m->owned_bf16.back();
    for (size_t i = 0; i < n; ++i) out[i] = cpu::f32_to_bf16(f[i]);
    return Weight::from_bf16(out.data());
  };

  const int64_t D = c.dim, H = c.n_heads * int64_t(c.head_dim), KV = c.n_kv_heads * int64_t(c.head_dim), F = c.hidden, V = c.vocab;
  // A view `off` elements into a matrix (row slices of a fused projection: no copy).
  auto rows_of = [](const Weight& w, size_t off) -> Weight {
    if (w.type == WeightType::BF16) return Weight::from_bf16(w.bf16() + off);
    return Weight(w.f32() + off);
  };
  // Partial rotary (Phi3): HF rotates dims [0, r) of each head, pairing i with i + r/2, and passes
  // [r, hd). The rope op pairs i with i + hd/2, so each head's rows are reordered (new slot <- old
  // dim): i <- i and hd/2 + i <- r/2 + i for i < r/2; the passed dims fill the other slots in order.
  // q and k get the same order, so every q.k (attention, scores) is unchanged; v and o are not touched.
  auto permute_head_rows = [&](const Weight& w, int heads) -> Weight {
    const int hd = c.head_dim, r = c.rot_dim, half = hd / 2, rh = r / 2;
    std::vector<int> from(hd);
    for (int i = 0; i < rh; ++i) from[i] = i, from[half + i] = rh + i;
    const int pass = hd - r;
    for (int i = 0; i < pass / 2; ++i) from[rh + i] = r + i;
    for (int i = 0; i < pass - pass / 2; ++i) from[half + rh + i] = r + pass / 2 + i;
    const size_t n = size_t(heads) * hd * D;
    if (w.type == WeightType::BF16) {
      m->owned_bf16.emplace_back(n);
      uint16_t* out = m->owned_bf16.back().data();
      for (int h = 0; h < heads; ++h)
        for (int s = 0; s < hd; ++s)
          std::memcpy(out + (size_t(h) * hd + s) * D, w.bf16() + (size_t(h) * hd + from[s]) * D, size_t(D) * 2);
      return Weight::from_bf16(out);
    }
    m->owned.emplace_back(n);
    float* out = m->owned.back().data();
    for (int h = 0; h < heads; ++h)
      for (int s = 0; s < hd; ++s)
        std::memcpy(out + (size_t(h) * hd + s) * D, w.f32() + (size_t(h) * hd + from[s]) * D, size_t(D) * 4);
    return Weight(out);
  };
  const TensorInfo* embed = find("model.embed_tokens.weight", {V, D}, true);
  for (int l = 0; l < c.n_layers; ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".";
    LayerWeights w;
    w.attn_norm = get(p + "input_layernorm.weight", {D});
    if (c.fused) {
      // Phi3: rows [q | k | v] of qkv_proj and [gate | up] of gate_up_proj, as views into one matrix.
      const Weight qkv = get_matrix(p + "self_attn.qkv_proj.weight", {H + 2 * KV, D});
      w.wq = rows_of(qkv, 0);
      w.wk = rows_of(qkv, size_t(H) * D);
      w.wv = rows_of(qkv, size_t(H + KV) * D);
      const Weight gu = get_matrix(p + "mlp.gate_up_proj.weight", {2 * F, D});
      w.w_gate = rows_of(gu, 0);
      w.w_up = rows_of(gu, size_t(F) * D);
    } else {
    w.wq = get_matrix(p + "self_attn.q_proj.weight", {H, D});
    if (c.qk_norm) {
      w.q_norm = get(p + "self_attn.q_norm.weight", {int64_t(c.head_dim)});
      w.k_norm = get(p + "self_attn.k_norm.weight", {int64_t(c.head_dim)});
    }
    w.wk = get_matrix(p + "self_attn.k_proj.weight", {KV, D});
    w.wv = get_matrix(p + "self_attn.v_proj.weight", {KV, D});
    }
    if (c.rot_dim < c.head_dim) {
      w.wq = permute_head_rows(w.wq, c.n_heads);
      w.wk = permute_head_rows(w.wk, c.n_kv_heads);
    }
    w.wo = get_matrix(p + "self_attn.o_proj.weight", {D, H});
    if (c.qkv_bias) {
      w.bq = get(p + "self_attn.q_proj.bias", {H});
      w.bk = get(p + "self_attn.k_proj.bias", {KV});
      w.bv = get(p + "self_attn.v_proj.bias", {KV});
    }
    if (c.o_bias) w.bo = get(p + "self_attn.o_proj.bias", {D});
    w.ffn_norm = get(p + "post_attention_layernorm.weight", {D});
    if (!c.fused) {
      w.w_gate = get_matrix(p + "mlp.gate_proj.weight", {F, D});
      w.w_up = get_matrix(p + "mlp.up_proj.weight", {F, D});
    }
    w.w_down = get_matrix(p + "mlp.down_proj.weight", {D, F});
    if (c.mlp_bias) {
      w.b_gate = get(p + "mlp.gate_proj.bias", {F});
      w.b_up = get(p + "mlp.up_proj.bias", {F});
      w.b_down = get(p + "mlp.down_proj.bias", {D});
    }
    // Checkpoints written by transformers before 4.31 may carry the RoPE table as a buffer; the
    // engine derives RoPE from config.json (as transformers does), so it is ignored.
    if (where.count(p + "self_attn.rotary_emb.inv_freq")) used.insert(p + "self_attn.rotary_emb.inv_freq");
    m->layers.push_back(w);
  }
  m->norm = get("model.norm.weight", {D});
  // The embedding is read a row per token, so it stays f32; a tied bf16 head is the file's bf16
  // data (or a bf16 copy) beside it.
  m->embed = to_f32(*embed);
  if (c.tied) {
    // Tied: transformers uses the embedding as the head. A file that also stores lm_head.weight is
    // accepted only when it is the same matrix; otherwise the checkpoint contradicts its config.
    if (const TensorInfo* head = find("lm_head.weight", {V, D}, false)) {
      const size_t n = size_t(head->numel());
      std::vector<float> a(4096), b(4096);
      for (size_t i = 0; i < n; i += a.size()) {
        const size_t k = std::min(a.size(), n - i);
        convert_to_f32(head->dtype, head->data + i * dtype_size(head->dtype), a.data(), k);
        convert_to_f32(embed->dtype, embed->data + i * dtype_size(embed->dtype), b.data(), k);
        if (std::memcmp(a.data(), b.data(), k * sizeof(float)) != 0)
          throw EngineError(head->file + ": tensor 'lm_head.weight' differs from model.embed_tokens.weight but " +
                            cfg_path + " says tie_word_embeddings = true");
      }
    }
    m->lm_head = bf16 ? get_matrix("model.embed_tokens.weight", {V, D}) : Weight(m->embed);
  } else {
    m->lm_head = get_matrix("lm_head.weight", {V, D});
  }
  // Strict: a tensor nothing above read is one this engine does not understand; computing without
  // it would give some other model's output.
  for (const auto& kv : where) {
    if (used.count(kv.first)) continue;
    const std::string& n = kv.first;
    auto ends = [&](const std::string& suffix) {
      return n.size() >= suffix.size() && n.compare(n.size() - suffix.size(), suffix.size(), suffix) == 0;
    };
    std::string why = "is not part of " + c.architecture + " as " + cfg_path + " describes it";
    if (ends("_proj.bias") && n.find(".self_attn.") != std::string::npos)
      why += c.architecture == "LlamaForCausalLM" ? " (attention biases need \"attention_bias\": true)"
                                                   : " (this architecture has no such bias)";
    else if (ends("_proj.bias") && n.find(".mlp.") != std::string::npos)
      why += c.architecture == "LlamaForCausalLM" ? " (MLP biases need \"mlp_bias\": true)"
                                                   : " (this architecture has no MLP biases)";
    throw EngineError(kv.second->file + ": tensor '" + n + "' " + why + "; refusing to load a checkpoint with unknown tensors");
  }
  m->storage_dtype = bf16 ? "bf16" : "f32";
  for (const auto& d : dtypes) m->weight_dtype += (m->weight_dtype.empty() ? "" : "+") + d;
  return m;
}

}  // namespace pcomp
