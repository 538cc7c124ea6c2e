// Graceful stop on SIGINT/SIGTERM: the first signal sets a flag that the training loop checks
// after each step (all ranks agree on it, save a checkpoint and exit with kExitInterrupted);
// a second signal exits at once with 128 + signal.
#pragma once

namespace rt {

void install_stop_signal_handlers();
// The first stop signal received (SIGINT or SIGTERM), or 0.
int stop_signal_received();

}  // namespace rt
