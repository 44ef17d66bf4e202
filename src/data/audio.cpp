// Audio reading (libsndfile) and features (FFTW).
#include "rnnkit/data/audio.h"

#include <fftw3.h>
#include <sndfile.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <mutex>
#include <numbers>

#include "rnnkit/core/error.h"
#include "rnnkit/data/readers.h"

namespace rnnkit {

AudioClip read_audio(const std::string& path) {
  SF_INFO info{};
  SNDFILE* f = sf_open(path.c_str(), SFM_READ, &info);
  if (!f) throw Error(path + ": cannot read audio: " + sf_strerror(nullptr));
  std::unique_ptr<SNDFILE, int (*)(SNDFILE*)> closer(f, sf_close);
  require(info.channels >= 1 && info.samplerate > 0, path + ": audio without channels or sample rate");
  require(info.frames >= 0 && info.frames < (int64_t(1) << 32), path + ": audio is too long (" +
                                                                     std::to_string(info.frames) + " frames)");
  std::vector<float> interleaved(size_t(info.frames) * size_t(info.channels));
  const sf_count_t got = sf_readf_float(f, interleaved.data(), info.frames);
  require(got == info.frames, path + ": audio is truncated: read " + std::to_string(got) + " of " +
                                  std::to_string(info.frames) + " frames");
  AudioClip clip;
  clip.sample_rate = info.samplerate;
  clip.source = path;
  clip.samples.resize(size_t(info.frames));
  for (size_t i = 0; i < clip.samples.size(); ++i) {
    double s = 0;
    for (int c = 0; c < info.channels; ++c) s += interleaved[i * size_t(info.channels) + size_t(c)];
    clip.samples[i] = float(s / info.channels);
    require(std::isfinite(clip.samples[i]), [&] {
      return path + ": sample " + std::to_string(i) + " (" + std::to_string(double(i) / info.samplerate) +
             " s) is not a finite number";
    });
  }
  return clip;
}

std::vector<LabelledClip> read_audio_folders(const std::string& root) {
  std::vector<LabelledClip> out;
  for (const ClassFolder& c : list_class_folders(root))
    for (const std::string& f : c.files) out.push_back({read_audio(f), c.label});
  return out;
}

int AudioFeatureConfig::frame_length() const { return int(std::lround(sample_rate * frame_ms / 1000.0)); }
int AudioFeatureConfig::hop_length() const { return int(std::lround(sample_rate * hop_ms / 1000.0)); }
int AudioFeatureConfig::fft_size() const {
  if (n_fft > 0) return n_fft;
  const int L = frame_length();
  int n = 1;
  while (n < L) n *= 2;
  return n;
}

void AudioFeatureConfig::validate() const {
  require(sample_rate > 0, "audio features need a positive sample rate");
  require(frame_length() >= 2 && hop_length() >= 1, "audio frame and hop must be at least 2 and 1 samples");
  require(fft_size() >= frame_length(), "n_fft " + std::to_string(fft_size()) + " is shorter than the frame of " +
                                            std::to_string(frame_length()) + " samples");
  const double top = f_max > 0 ? f_max : sample_rate / 2.0;
  require(f_min >= 0 && f_min < top && top <= sample_rate / 2.0 + 1e-9,
          "mel range [" + std::to_string(f_min) + ", " + std::to_string(top) + "] Hz must lie within [0, rate/2]");
  require(n_mels >= 1 && n_mfcc >= 1 && n_mfcc <= n_mels, "need 1 <= n_mfcc <= n_mels and n_mels >= 1");
}

std::vector<double> mel_filterbank(const AudioFeatureConfig& c) {
  c.validate();
  const int N = c.fft_size(), bins = N / 2 + 1;
  auto mel = [](double f) { return 2595.0 * std::log10(1.0 + f / 700.0); };
  auto hz = [](double m) { return 700.0 * (std::pow(10.0, m / 2595.0) - 1.0); };
  const double lo = mel(c.f_min), hi = mel(c.f_max > 0 ? c.f_max : c.sample_rate / 2.0);
  std::vector<double> points(size_t(c.n_mels) + 2);
  for (size_t i = 0; i < points.size(); ++i) points[i] = hz(lo + (hi - lo) * double(i) / double(c.n_mels + 1));
  std::vector<double> fb(size_t(c.n_mels) * size_t(bins), 0.0);
  for (int m = 0; m < c.n_mels; ++m) {
    const double left = points[size_t(m)], centre = points[size_t(m) + 1], right = points[size_t(m) + 2];
    for (int k = 0; k < bins; ++k) {
      const double f = double(k) * c.sample_rate / N;
      const double up = (f - left) / (centre - left), down = (right - f) / (right - centre);
      fb[size_t(m) * size_t(bins) + size_t(k)] = std::max(0.0, std::min(up, down));
    }
  }
  return fb;
}

namespace {

std::mutex& fftw_planner_mutex() {  // FFTW's planner is not thread-safe
  static std::mutex m;
  return m;
}

}  // namespace

std::vector<float> log_mel(const AudioClip& clip, const AudioFeatureConfig& c, int* frames_out) {
  c.validate();
  require(clip.sample_rate == c.sample_rate, clip.source + ": sample rate " + std::to_string(clip.sample_rate) +
                                                 " Hz, but the features expect " + std::to_string(c.sample_rate) +
                                                 " Hz (resample the audio or set sample_rate)");
  const int L = c.frame_length(), hop = c.hop_length(), N = c.fft_size(), bins = N / 2 + 1;
  const int64_t S = int64_t(clip.samples.size());
  const int frames = S >= L ? int((S - L) / hop + 1) : 0;
  if (frames_out) *frames_out = frames;
  std::vector<float> out(size_t(frames) * size_t(c.n_mels));
  if (frames == 0) return out;

  const std::vector<double> fb = mel_filterbank(c);
  // Each triangular filter is zero outside [first[m], end[m]): the product runs over that stretch
  // only (the zeros it skips would each add +0.0, which changes no sum).
  std::vector<int> first(size_t(c.n_mels), 0), end(size_t(c.n_mels), 0);
  for (int m = 0; m < c.n_mels; ++m) {
    const double* row = fb.data() + size_t(m) * size_t(bins);
    int a = 0, b = bins;
    while (a < bins && row[a] == 0.0) ++a;
    while (b > a && row[b - 1] == 0.0) --b;
    first[size_t(m)] = a, end[size_t(m)] = b;
  }
  std::vector<double> window(static_cast<size_t>(L));
  for (int n = 0; n < L; ++n) window[size_t(n)] = 0.5 - 0.5 * std::cos(2.0 * std::numbers::pi * n / L);  // periodic
  double* in = fftw_alloc_real(size_t(N));
  fftw_complex* spec = fftw_alloc_complex(size_t(bins));
  fftw_plan plan;
  {
    std::lock_guard<std::mutex> lock(fftw_planner_mutex());
    plan = fftw_plan_dft_r2c_1d(N, in, spec, FFTW_ESTIMATE);
  }
  std::vector<double> power(static_cast<size_t>(bins));
  for (int f = 0; f < frames; ++f) {
    const float* x = clip.samples.data() + int64_t(f) * hop;
    for (int n = 0; n < L; ++n) {
      const double prev = n > 0 ? x[n - 1] : (int64_t(f) * hop > 0 ? x[-1] : x[0]);
      const double v = c.preemphasis > 0 ? x[n] - c.preemphasis * prev : x[n];
      in[n] = v * window[size_t(n)];
    }
    std::fill(in + L, in + N, 0.0);
    fftw_execute(plan);
    for (int k = 0; k < bins; ++k) power[size_t(k)] = spec[k][0] * spec[k][0] + spec[k][1] * spec[k][1];
    for (int m = 0; m < c.n_mels; ++m) {
      double e = 0;
      const double* row = fb.data() + size_t(m) * size_t(bins);
      for (int k = first[size_t(m)]; k < end[size_t(m)]; ++k) e += row[k] * power[size_t(k)];
      out[size_t(f) * size_t(c.n_mels) + size_t(m)] = float(std::log(std::max(e, c.log_floor)));
    }
  }
  {
    std::lock_guard<std::mutex> lock(fftw_planner_mutex());
    fftw_destroy_plan(plan);
  }
  fftw_free(in);
  fftw_free(spec);
  return out;
}

std::vector<float> mfcc(const AudioClip& clip, const AudioFeatureConfig& c, int* frames_out) {
  int frames = 0;
  const std::vector<float> mels = log_mel(clip, c, &frames);
  if (frames_out) *frames_out = frames;
  const int M = c.n_mels, K = c.n_mfcc;
  // Orthonormal DCT-II: X_k = s_k sum_m x_m cos(pi k (2m + 1) / 2M), s_0 = sqrt(1/M), s_k = sqrt(2/M).
  std::vector<double> basis(size_t(K) * size_t(M));
  for (int k = 0; k < K; ++k)
    for (int m = 0; m < M; ++m)
      basis[size_t(k) * size_t(M) + size_t(m)] = (k == 0 ? std::sqrt(1.0 / M) : std::sqrt(2.0 / M)) *
                                                 std::cos(std::numbers::pi * k * (2 * m + 1) / (2.0 * M));
  std::vector<float> out(size_t(frames) * size_t(K));
  for (int f = 0; f < frames; ++f)
    for (int k = 0; k < K; ++k) {
      double s = 0;
      for (int m = 0; m < M; ++m) s += basis[size_t(k) * size_t(M) + size_t(m)] * mels[size_t(f) * size_t(M) + size_t(m)];
      out[size_t(f) * size_t(K) + size_t(k)] = float(s);
    }
  return out;
}

}  // namespace rnnkit
