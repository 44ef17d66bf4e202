// oneDNN's RNN primitives on one benchmark case, for bench/compare.py: forward (training) + backward,
// and the inference primitive, with weights in the layout oneDNN picks ("any", reordered once, not
// timed) and zero initial states. Like the figures in the performance issue, these times exclude the
// loss, the optimizer and the weight reorders that an update would need. Layers run as one primitive
// each (oneDNN stacks layers in one primitive only when every layer has the same input width).
//
// Usage: bench_dnnl CELL B T I H LAYERS BIDIR THREADS [REPS]     CELL: lstm | gru | rnn
// Prints one JSON line: {"train_ms": ..., "infer_ms": ..., "max_rss_mb": ...}; the times are the
// best of REPS runs after a warm-up. THREADS goes to OpenMP (oneDNN's Debian build uses it).
#include <omp.h>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <oneapi/dnnl/dnnl.hpp>
#include <string>
#include <unordered_map>
#include <vector>

#include "bench_util.h"

using namespace dnnl;
using tag = memory::format_tag;
using dt = memory::data_type;
using Args = std::unordered_map<int, memory>;

namespace {

struct Layer {
  std::function<void(stream&)> fwd_train, bwd, infer;
};

memory filled(const memory::desc& md, const engine& eng, float value) {
  memory m(md, eng);
  float* p = static_cast<float*>(m.get_data_handle());
  std::fill_n(p, md.get_size() / sizeof(float), value);
  return m;
}

// A memory in the layout `want`, holding `value` everywhere (weights: reorder from plain ldigo).
memory weights(const memory::desc& want, const memory::dims& dims, const engine& eng, stream& s, float value) {
  memory plain = filled(memory::desc(dims, dt::f32, tag::ldigo), eng, value);
  memory m(want, eng);
  reorder(plain, m).execute(s, plain, m);
  s.wait();
  return m;
}

// One layer of `cell` (PrimFwd / PrimBwd: the oneDNN primitive types) on (T, B, I) -> (T, B, D*H).
template <typename PrimFwd, typename PrimBwd, typename MakeFwd, typename MakeBwd>
Layer make_layer(const engine& eng, stream& s, int G, int bias_gates, int B, int T, int I, int H, int D,
                 MakeFwd make_fwd, MakeBwd make_bwd) {
  const rnn_direction dir = D == 2 ? rnn_direction::bidirectional_concat : rnn_direction::unidirectional_left2right;
  const memory::dims src_dims = {T, B, I}, dst_dims = {T, B, D * H};
  const memory::dims wl_dims = {1, D, I, G, H}, wi_dims = {1, D, H, G, H}, b_dims = {1, D, bias_gates, H};
  const memory::desc src(src_dims, dt::f32, tag::tnc), dst(dst_dims, dt::f32, tag::tnc);
  const memory::desc wl_any(wl_dims, dt::f32, tag::any), wi_any(wi_dims, dt::f32, tag::any);
  const memory::desc bias(b_dims, dt::f32, tag::ldgo), none;

  auto fwd_pd = make_fwd(prop_kind::forward_training, dir, src, wl_any, wi_any, bias, dst);
  auto inf_pd = make_fwd(prop_kind::forward_inference, dir, src, wl_any, wi_any, bias, dst);
  auto bwd_pd = make_bwd(dir, src, wl_any, wi_any, bias, dst, fwd_pd);

  auto src_m = filled(src, eng, 0.1f), dst_m = filled(dst, eng, 0.f), bias_m = filled(bias, eng, 0.01f);
  auto wl_f = weights(fwd_pd.weights_layer_desc(), wl_dims, eng, s, 0.02f);
  auto wi_f = weights(fwd_pd.weights_iter_desc(), wi_dims, eng, s, 0.02f);
  auto wl_i = weights(inf_pd.weights_layer_desc(), wl_dims, eng, s, 0.02f);
  auto wi_i = weights(inf_pd.weights_iter_desc(), wi_dims, eng, s, 0.02f);
  auto wl_b = weights(bwd_pd.weights_layer_desc(), wl_dims, eng, s, 0.02f);
  auto wi_b = weights(bwd_pd.weights_iter_desc(), wi_dims, eng, s, 0.02f);
  auto ws = memory(fwd_pd.workspace_desc(), eng);
  auto dsrc = filled(bwd_pd.diff_src_layer_desc(), eng, 0.f), ddst = filled(bwd_pd.diff_dst_layer_desc(), eng, 0.01f);
  auto dwl = filled(bwd_pd.diff_weights_layer_desc(), eng, 0.f), dwi = filled(bwd_pd.diff_weights_iter_desc(), eng, 0.f);
  auto dbias = filled(bwd_pd.diff_bias_desc(), eng, 0.f);
  auto dst_i = filled(inf_pd.dst_layer_desc(), eng, 0.f);

  Layer layer;
  PrimFwd fwd(fwd_pd), inf(inf_pd);
  PrimBwd bwd(bwd_pd);
  layer.fwd_train = [=](stream& st) mutable {
    fwd.execute(st, {{DNNL_ARG_SRC_LAYER, src_m}, {DNNL_ARG_WEIGHTS_LAYER, wl_f}, {DNNL_ARG_WEIGHTS_ITER, wi_f},
                     {DNNL_ARG_BIAS, bias_m}, {DNNL_ARG_DST_LAYER, dst_m}, {DNNL_ARG_WORKSPACE, ws}});
  };
  layer.bwd = [=](stream& st) mutable {
    bwd.execute(st, {{DNNL_ARG_SRC_LAYER, src_m}, {DNNL_ARG_WEIGHTS_LAYER, wl_b}, {DNNL_ARG_WEIGHTS_ITER, wi_b},
                     {DNNL_ARG_BIAS, bias_m}, {DNNL_ARG_DST_LAYER, dst_m}, {DNNL_ARG_WORKSPACE, ws},
                     {DNNL_ARG_DIFF_SRC_LAYER, dsrc}, {DNNL_ARG_DIFF_WEIGHTS_LAYER, dwl},
                     {DNNL_ARG_DIFF_WEIGHTS_ITER, dwi}, {DNNL_ARG_DIFF_BIAS, dbias},
                     {DNNL_ARG_DIFF_DST_LAYER, ddst}});
  };
  layer.infer = [=](stream& st) mutable {
    inf.execute(st, {{DNNL_ARG_SRC_LAYER, src_m}, {DNNL_ARG_WEIGHTS_LAYER, wl_i}, {DNNL_ARG_WEIGHTS_ITER, wi_i},
                     {DNNL_ARG_BIAS, bias_m}, {DNNL_ARG_DST_LAYER, dst_i}});
  };
  return layer;
}

Layer lstm_layer(const engine& eng, stream& s, int B, int T, int I, int H, int D) {
  const memory::desc none;
  return make_layer<lstm_forward, lstm_backward>(
      eng, s, 4, 4, B, T, I, H, D,
      [&](prop_kind pk, rnn_direction dir, auto& src, auto& wl, auto& wi, auto& bias, auto& dst) {
        return lstm_forward::primitive_desc(
            lstm_forward::desc(pk, dir, src, none, none, wl, wi, bias, dst, none, none), eng);
      },
      [&](rnn_direction dir, auto& src, auto& wl, auto& wi, auto& bias, auto& dst, auto& fwd_pd) {
        return lstm_backward::primitive_desc(
            lstm_backward::desc(prop_kind::backward, dir, src, none, none, wl, wi, bias, dst, none, none, src, none,
                                none, wl, wi, bias, dst, none, none),
            eng, fwd_pd);
      });
}

// The GRU with PyTorch's equations (reset gate applied after W_hn h) is oneDNN's linear-before-reset
// GRU, whose bias has a fourth gate (b_hn).
Layer gru_layer(const engine& eng, stream& s, int B, int T, int I, int H, int D) {
  const memory::desc none;
  return make_layer<lbr_gru_forward, lbr_gru_backward>(
      eng, s, 3, 4, B, T, I, H, D,
      [&](prop_kind pk, rnn_direction dir, auto& src, auto& wl, auto& wi, auto& bias, auto& dst) {
        return lbr_gru_forward::primitive_desc(lbr_gru_forward::desc(pk, dir, src, none, wl, wi, bias, dst, none),
                                               eng);
      },
      [&](rnn_direction dir, auto& src, auto& wl, auto& wi, auto& bias, auto& dst, auto& fwd_pd) {
        return lbr_gru_backward::primitive_desc(
            lbr_gru_backward::desc(prop_kind::backward, dir, src, none, wl, wi, bias, dst, none, src, none, wl, wi,
                                   bias, dst, none),
            eng, fwd_pd);
      });
}

Layer rnn_layer(const engine& eng, stream& s, int B, int T, int I, int H, int D) {
  const memory::desc none;
  return make_layer<vanilla_rnn_forward, vanilla_rnn_backward>(
      eng, s, 1, 1, B, T, I, H, D,
      [&](prop_kind pk, rnn_direction dir, auto& src, auto& wl, auto& wi, auto& bias, auto& dst) {
        return vanilla_rnn_forward::primitive_desc(
            vanilla_rnn_forward::desc(pk, algorithm::eltwise_tanh, dir, src, none, wl, wi, bias, dst, none), eng);
      },
      [&](rnn_direction dir, auto& src, auto& wl, auto& wi, auto& bias, auto& dst, auto& fwd_pd) {
        return vanilla_rnn_backward::primitive_desc(
            vanilla_rnn_backward::desc(prop_kind::backward, algorithm::eltwise_tanh, dir, src, none, wl, wi, bias,
                                       dst, none, src, none, wl, wi, bias, dst, none),
            eng, fwd_pd);
      });
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 9) {
    std::fprintf(stderr, "usage: bench_dnnl CELL B T I H LAYERS BIDIR THREADS [REPS]\n");
    return 2;
  }
  const std::string cell = argv[1];
  const int B = std::stoi(argv[2]), T = std::stoi(argv[3]), I = std::stoi(argv[4]), H = std::stoi(argv[5]);
  const int L = std::stoi(argv[6]), D = std::stoi(argv[7]) ? 2 : 1, threads = std::stoi(argv[8]);
  const int reps = argc > 9 ? std::stoi(argv[9]) : 5;
  omp_set_num_threads(threads);
  const double base = bench::rss_mb();
  try {
    engine eng(engine::kind::cpu, 0);
    stream s(eng);
    std::vector<Layer> layers;
    for (int l = 0; l < L; ++l) {
      const int in = l == 0 ? I : D * H;
      if (cell == "lstm") layers.push_back(lstm_layer(eng, s, B, T, in, H, D));
      else if (cell == "gru") layers.push_back(gru_layer(eng, s, B, T, in, H, D));
      else if (cell == "rnn") layers.push_back(rnn_layer(eng, s, B, T, in, H, D));
      else throw std::runtime_error("unknown cell '" + cell + "': expected lstm, gru or rnn");
    }
    const double train = bench::best_ms(
        [&] {
          for (auto& l : layers) l.fwd_train(s);
          for (auto it = layers.rbegin(); it != layers.rend(); ++it) it->bwd(s);
          s.wait();
        },
        reps);
    const double train_peak = bench::peak_rss_mb();  // training alone: before the inference below
    const double infer = bench::best_ms(
        [&] {
          for (auto& l : layers) l.infer(s);
          s.wait();
        },
        reps);
    rusage ru{};
    getrusage(RUSAGE_SELF, &ru);
    std::printf("{\"train_ms\": %.3f, \"infer_ms\": %.3f, \"max_rss_mb\": %.1f, \"train_max_rss_mb\": %.1f, "
                "\"base_rss_mb\": %.1f}\n",
                train, infer, bench::peak_rss_mb(), train_peak, base);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_dnnl: %s\n", e.what());
    return 1;
  }
}
