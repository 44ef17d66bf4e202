// Audio: files read by libsndfile (WAV, FLAC, OGG, ... mixed down to mono) and framed into
// log-mel filterbank energies or MFCCs, with FFTW for the Fourier transforms.
//
//   frames: frame_length samples every hop_length, no centre padding; x[n] - preemphasis * x[n-1];
//           a periodic Hann window; power spectrum |FFT_n_fft|^2
//   log-mel: ln(max(mel_filterbank . power, floor)), HTK mel scale 2595 log10(1 + f / 700),
//           triangular filters without area normalisation (torchaudio MelSpectrogram's defaults)
//   MFCC: orthonormal DCT-II of the log-mel energies (a small matrix product), the first n_mfcc
#pragma once

#include <string>
#include <vector>

namespace rnnkit {

struct AudioClip {
  std::vector<float> samples;  // mono, in [-1, 1]
  int sample_rate = 0;
  std::string source;
  double seconds() const { return sample_rate ? double(samples.size()) / sample_rate : 0.0; }
};

// Reads any format libsndfile supports; several channels are averaged. Errors name the file.
AudioClip read_audio(const std::string& path);

// One folder per class of audio files (root/<label>/<file>), sorted; hidden entries skipped.
struct LabelledClip {
  AudioClip clip;
  std::string label;
};
std::vector<LabelledClip> read_audio_folders(const std::string& root);

struct AudioFeatureConfig {
  int sample_rate = 16000;    // the rate the parameters below refer to; clips must match
  double frame_ms = 25.0;     // window length
  double hop_ms = 10.0;       // frame shift
  int n_fft = 0;              // 0: the next power of two >= the frame length
  int n_mels = 40;
  double f_min = 20.0;
  double f_max = 0.0;         // 0: sample_rate / 2
  double preemphasis = 0.97;  // 0: none
  double log_floor = 1e-10;
  int n_mfcc = 13;
  int frame_length() const;   // samples
  int hop_length() const;
  int fft_size() const;
  void validate() const;
};

// (frames, n_mels) log-mel energies; fewer samples than one frame give zero frames.
std::vector<float> log_mel(const AudioClip& clip, const AudioFeatureConfig& config, int* frames = nullptr);
// (frames, n_mfcc) MFCCs.
std::vector<float> mfcc(const AudioClip& clip, const AudioFeatureConfig& config, int* frames = nullptr);
// The (n_mels, n_fft/2 + 1) triangular filterbank, for inspection and tests.
std::vector<double> mel_filterbank(const AudioFeatureConfig& config);

}  // namespace rnnkit
