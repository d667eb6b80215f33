// cuDNN fused flash attention (cudnn-frontend graph API) for MLA prefill. libcudnn.so.9 is opened
// at run time (the frontend's dynamic-loading mode), so binaries start where cuDNN is absent and
// mla_prefill.cu falls back to its own kernel. One graph per shape bucket: the maximum sequence
// lengths are rounded up to powers of two and the real lengths and packed (ragged) offsets come
// from device memory, so a recurring bucket never rebuilds a graph in the step loop.
#include "backend/cuda/mla_prefill_cudnn.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
#include <tuple>

#include "common/log.h"

#ifdef DUET_HAS_CUDNN
#include <dlfcn.h>

#include <cudnn_frontend.h>

// The frontend resolves every cuDNN symbol through this handle (its dynamic-loading mode).
namespace cudnn_frontend {
void* cudnn_dlhandle = nullptr;
}  // namespace cudnn_frontend
#endif

namespace duet::cuda {

#ifdef DUET_HAS_CUDNN
namespace {

namespace fe = cudnn_frontend;

// Tensor uids of the graph's inputs and outputs.
enum Uid : int64_t { kQ = 1, kK, kV, kO, kSeqQ, kSeqKv, kRoQ, kRoK, kRoV, kRoO };

int64_t bucket(int64_t n) {
  return std::max<int64_t>(64, sdpa_batch_bucket(n));
}

using Key = std::tuple<int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t,
                       int64_t, int64_t, uint32_t>;

struct Entry {
  std::shared_ptr<fe::graph::Graph> graph;  // null: cuDNN does not support this bucket
  int64_t workspace = 0;
};

// Builds the graph for one bucket: B sequences, H heads, Q [B, H, sq, d_qk] packed over tokens
// (ragged offsets) with the given leading dimensions; padding mask (real lengths from aux) and
// bottom-right causal mask.
Entry build(cudnnHandle_t handle, int sm_version, const SdpaProblem& p, int64_t sq, int64_t skv,
            std::string& why) {
  auto g = std::make_shared<fe::graph::Graph>();
  g->set_io_data_type(fe::DataType_t::BFLOAT16)
      .set_intermediate_data_type(fe::DataType_t::FLOAT)
      .set_compute_data_type(fe::DataType_t::FLOAT);
  g->set_sm_version(sm_version);
  const int64_t B = p.batch, H = p.heads;
  auto i32 = [&](Uid uid, const char* name, int64_t n) {
    return g->tensor(fe::graph::Tensor_attributes()
                         .set_name(name)
                         .set_uid(uid)
                         .set_dim({n, 1, 1, 1})
                         .set_stride({1, 1, 1, 1})
                         .set_data_type(fe::DataType_t::INT32));
  };
  auto ro_q = i32(kRoQ, "ro_q", B + 1), ro_k = i32(kRoK, "ro_k", B + 1);
  auto ro_v = i32(kRoV, "ro_v", B + 1), ro_o = i32(kRoO, "ro_o", B + 1);
  auto seq_q = i32(kSeqQ, "seq_q", B), seq_kv = i32(kSeqKv, "seq_kv", B);
  auto bhsd = [&](Uid uid, const char* name, int64_t s, int64_t d, int64_t ld,
                  std::shared_ptr<fe::graph::Tensor_attributes> ro) {
    return g->tensor(fe::graph::Tensor_attributes()
                         .set_name(name)
                         .set_uid(uid)
                         .set_dim({B, H, s, d})
                         .set_stride({s * ld, d, ld, 1})
                         .set_ragged_offset(ro));
  };
  auto Q = bhsd(kQ, "Q", sq, p.d_qk, p.ld_q, ro_q);
  auto K = bhsd(kK, "K", skv, p.d_qk, p.ld_k, ro_k);
  auto V = bhsd(kV, "V", skv, p.d_v, p.ld_v, ro_v);
  auto opts = fe::graph::SDPA_attributes()
                  .set_name("mla_prefill")
                  .set_generate_stats(false)
                  .set_attn_scale(p.scale)
                  .set_padding_mask(true)
                  .set_seq_len_q(seq_q)
                  .set_seq_len_kv(seq_kv)
                  .set_causal_mask_bottom_right(true);
  auto [O, stats] = g->sdpa(Q, K, V, opts);
  (void)stats;
  O->set_output(true)
      .set_uid(kO)
      .set_dim({B, H, sq, p.d_v})
      .set_stride({sq * p.ld_o, p.d_v, p.ld_o, 1})
      .set_ragged_offset(ro_o);
  Entry e;
  fe::error_t st = g->validate();
  if (st.is_good()) st = g->build_operation_graph(handle);
  // The heuristics' first choice: timing every plan (the frontend's autotune) picked no faster
  // one on an H100 (4 x 4096, 16 heads, cuDNN 9.19).
  if (st.is_good()) st = g->create_execution_plans({fe::HeurMode_t::A});
  if (st.is_good()) st = g->check_support(handle);
  if (st.is_good()) st = g->build_plans(handle, fe::BuildPlanPolicy_t::HEURISTICS_CHOICE);
  if (st.is_good()) st = g->get_workspace_size(e.workspace);
  if (!st.is_good()) {
    why = st.get_message();
    return Entry{};
  }
  std::string plan;
  if (g->get_plan_name(plan).is_bad()) plan = "?";
  log_info("mla prefill: cuDNN graph B ", p.batch, " H ", p.heads, " bucket ", sq, "x", skv, ": ",
           g->get_execution_plan_count(), " plan(s), first ", plan);
  e.graph = std::move(g);
  return e;
}

}  // namespace

struct CudnnSdpa {
  cudnnHandle_t handle = nullptr;
  int sm_version = 0;
  std::map<Key, Entry> graphs;
  bool warned = false;
};

CudnnSdpa* cudnn_sdpa_create(int sm_version) {
  const char* mode = std::getenv("DUET_MLA_PREFILL");
  if (mode && std::strcmp(mode, "kernel") == 0) {
    log_info("mla prefill: own attention kernel (DUET_MLA_PREFILL=kernel)");
    return nullptr;
  }
  if (!fe::cudnn_dlhandle) fe::cudnn_dlhandle = dlopen("libcudnn.so.9", RTLD_NOW | RTLD_LOCAL);
  if (!fe::cudnn_dlhandle) {
    log_info("mla prefill: libcudnn.so.9 not loadable (", dlerror(), "); own attention kernel");
    return nullptr;
  }
  auto* s = new CudnnSdpa;
  s->sm_version = sm_version;
  try {
    if (fe::detail::create_handle(&s->handle) != CUDNN_STATUS_SUCCESS) s->handle = nullptr;
  } catch (const std::exception& ex) {
    log_info("mla prefill: cuDNN handle: ", ex.what());
  }
  if (!s->handle) {
    log_info("mla prefill: cuDNN handle creation failed; own attention kernel");
    delete s;
    return nullptr;
  }
  log_info("mla prefill: cuDNN ", fe::detail::get_backend_version(), " fused attention (headers ",
           CUDNN_VERSION, ")");
  return s;
}

void cudnn_sdpa_destroy(CudnnSdpa* s) {
  if (!s) return;
  s->graphs.clear();
  fe::detail::destroy_handle(s->handle);
  delete s;
}

namespace {

Key key_of(const SdpaProblem& p) {
  uint32_t scale_bits = 0;
  std::memcpy(&scale_bits, &p.scale, sizeof scale_bits);
  return Key{p.batch, p.heads, p.d_qk, p.d_v,  bucket(p.max_q), bucket(p.max_kv),
             p.ld_q,  p.ld_k,  p.ld_v, p.ld_o, scale_bits};
}

}  // namespace

bool cudnn_sdpa_ready(CudnnSdpa* s, const SdpaProblem& p) {
  if (!s || p.batch == 0) return false;
  const Key key = key_of(p);
  auto it = s->graphs.find(key);
  if (it == s->graphs.end()) {
    std::string why;
    Entry e;
    try {
      e = build(s->handle, s->sm_version, p, std::get<4>(key), std::get<5>(key), why);
    } catch (const std::exception& ex) {
      why = ex.what();
    }
    if (!e.graph && !s->warned) {
      log_warn("mla prefill: cuDNN attention unsupported for B ", p.batch, " H ", p.heads, " d ",
               p.d_qk, "/", p.d_v, " bucket ", std::get<4>(key), "x", std::get<5>(key), " (", why,
               "); own kernel for such shapes");
      s->warned = true;
    }
    it = s->graphs.emplace(key, std::move(e)).first;
  }
  return it->second.graph != nullptr;
}

void cudnn_sdpa_run(CudnnSdpa* s, cudaStream_t stream, const SdpaProblem& p,
                    const std::function<void*(size_t)>& workspace) {
  const auto it = s->graphs.find(key_of(p));
  DUET_CHECK(it != s->graphs.end() && it->second.graph, "cudnn_sdpa_run on a shape not ready");
  const Entry& e = it->second;
  DUET_CHECK(fe::detail::set_stream(s->handle, stream) == CUDNN_STATUS_SUCCESS,
             "cudnnSetStream failed");
  int32_t* a = const_cast<int32_t*>(p.aux);
  const int64_t A = sdpa_aux_stride(p.batch);
  std::unordered_map<int64_t, void*> ptrs = {{kQ, const_cast<void*>(p.q)},
                                             {kK, const_cast<void*>(p.k)},
                                             {kV, const_cast<void*>(p.v)},
                                             {kO, p.o},
                                             {kSeqQ, a},
                                             {kSeqKv, a + A},
                                             {kRoQ, a + 2 * A},
                                             {kRoK, a + 3 * A},
                                             {kRoV, a + 4 * A},
                                             {kRoO, a + 5 * A}};
  void* ws = e.workspace > 0 ? workspace(static_cast<size_t>(e.workspace)) : nullptr;
  fe::error_t st = e.graph->execute(s->handle, ptrs, ws);
  DUET_CHECK(st.is_good(), "cuDNN attention execute: ", st.get_message());
}

#else  // no cudnn-frontend at build time

CudnnSdpa* cudnn_sdpa_create(int) {
  log_info("mla prefill: built without cudnn-frontend; own attention kernel");
  return nullptr;
}
void cudnn_sdpa_destroy(CudnnSdpa*) {}
bool cudnn_sdpa_ready(CudnnSdpa*, const SdpaProblem&) {
  return false;
}
void cudnn_sdpa_run(CudnnSdpa*, cudaStream_t, const SdpaProblem&,
                    const std::function<void*(size_t)>&) {}

#endif

}  // namespace duet::cuda
