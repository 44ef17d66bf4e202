// Audio: libsndfile reading and log-mel / MFCC features against torchaudio's.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <unistd.h>

#include "rnnkit/core/error.h"
#include "rnnkit/data/audio.h"
#include "rnnkit/io/safetensors.h"

namespace rnnkit {
namespace {

std::string fx(const std::string& name) { return std::string(RNNKIT_DATA_FIXTURES) + "/" + name; }

AudioFeatureConfig torchaudio_config() {
  AudioFeatureConfig c;
  c.sample_rate = 16000, c.frame_ms = 25, c.hop_ms = 10, c.n_fft = 400, c.n_mels = 40;
  c.f_min = 20, c.f_max = 8000, c.preemphasis = 0, c.n_mfcc = 13;
  return c;
}

TEST(Audio, ReadsWav) {
  const AudioClip clip = read_audio(fx("tone.wav"));
  EXPECT_EQ(clip.sample_rate, 16000);
  EXPECT_EQ(clip.samples.size(), 4800u);
  EXPECT_NEAR(clip.seconds(), 0.3, 1e-12);
  EXPECT_THROW(read_audio(fx("reviews.csv")), Error);
  EXPECT_THROW(read_audio(fx("nothing.wav")), Error);
}

TEST(Audio, LogMelAndMfccMatchTorchaudio) {
  const AudioClip clip = read_audio(fx("tone.wav"));
  const SafetensorsFile want = read_safetensors(fx("tone.expected.safetensors"));
  int frames = 0;
  const std::vector<float> mel = log_mel(clip, torchaudio_config(), &frames);
  EXPECT_EQ(frames, 28);  // (4800 - 400) / 160 + 1
  const std::vector<double> ref = want.find("log_mel")->to_vector<double>();
  ASSERT_EQ(mel.size(), ref.size());
  for (size_t i = 0; i < ref.size(); ++i) ASSERT_NEAR(mel[i], ref[i], 1e-4 * (1 + std::abs(ref[i]))) << "log-mel " << i;
  const std::vector<float> mf = mfcc(clip, torchaudio_config());
  const std::vector<double> ref_mfcc = want.find("mfcc")->to_vector<double>();
  ASSERT_EQ(mf.size(), ref_mfcc.size());
  for (size_t i = 0; i < ref_mfcc.size(); ++i) ASSERT_NEAR(mf[i], ref_mfcc[i], 1e-3 * (1 + std::abs(ref_mfcc[i]))) << i;
}

TEST(Audio, ToneEnergyLandsInItsMelBand) {
  AudioClip clip;
  clip.sample_rate = 16000;
  for (int n = 0; n < 16000; ++n) clip.samples.push_back(float(0.5 * std::sin(2 * M_PI * 1000.0 * n / 16000)));
  AudioFeatureConfig c;
  int frames = 0;
  const std::vector<float> mel = log_mel(clip, c, &frames);
  const std::vector<double> fb = mel_filterbank(c);
  const int bins = c.fft_size() / 2 + 1, bin_1k = int(std::lround(1000.0 * c.fft_size() / 16000));
  int best_filter = 0;
  for (int m = 1; m < c.n_mels; ++m)
    if (fb[size_t(m) * bins + bin_1k] > fb[size_t(best_filter) * bins + bin_1k]) best_filter = m;
  const float* row = mel.data() + size_t(frames / 2) * c.n_mels;
  EXPECT_EQ(std::max_element(row, row + c.n_mels) - row, best_filter);
  c.sample_rate = 8000;
  EXPECT_THROW(log_mel(clip, c), Error);  // the clip is 16 kHz
  AudioClip tiny{{0.1f, 0.2f}, 16000, "tiny"};
  EXPECT_TRUE(log_mel(tiny, AudioFeatureConfig{}).empty());
}

TEST(Audio, SpokenDigitsFromEspeakEndToEnd) {
  if (std::system("command -v espeak-ng >/dev/null 2>&1") != 0) GTEST_SKIP() << "espeak-ng not installed";
  const auto dir = std::filesystem::temp_directory_path() / ("rnnkit_digits_" + std::to_string(::getpid()));
  const std::string cmd = std::string(RNNKIT_SOURCE_DIR) + "/scripts/make_spoken_digits.sh " + dir.string() +
                          " --small 2>/dev/null";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  const std::vector<LabelledClip> clips = read_audio_folders(dir.string());
  std::filesystem::remove_all(dir);
  ASSERT_EQ(clips.size(), 40u);  // 10 digits x 4 recordings
  EXPECT_EQ(clips.front().label, "0");
  EXPECT_EQ(clips.back().label, "9");
  AudioFeatureConfig c;
  c.sample_rate = 22050;  // espeak-ng's rate
  for (const auto& lc : clips) {
    int frames = 0;
    const std::vector<float> f = mfcc(lc.clip, c, &frames);
    EXPECT_GT(frames, 20) << lc.clip.source;  // at least 0.2 s of speech
    EXPECT_TRUE(std::all_of(f.begin(), f.end(), [](float v) { return std::isfinite(v); }));
  }
}

}  // namespace
}  // namespace rnnkit
