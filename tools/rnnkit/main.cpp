// rnnkit: train, evaluate and use recurrent models from the command line.
#include <cstdio>

#include "commands.h"
#include "rnnkit/core/error.h"

int main(int argc, char** argv) {
  CLI::App app{"rnnkit: recurrent neural networks for text, audio and time series"};
  app.require_subcommand(1);
  rnnkit::cli::add_train(app);
  rnnkit::cli::add_eval(app);
  rnnkit::cli::add_predict(app);
  rnnkit::cli::add_generate(app);
  rnnkit::cli::add_forecast(app);
  rnnkit::cli::add_info(app);
  rnnkit::cli::add_stream(app);
  rnnkit::cli::add_serve(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "rnnkit: %s\n", e.what());
    return 1;
  }
  return 0;
}
