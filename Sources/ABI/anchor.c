/* SwiftletABI's one object file. It includes the header so that a change to the header
 * rebuilds it, and so every Swift target importing SwiftletABI: SwiftPM lists this object
 * among their compile inputs, but not the header (the launcher, built -wmo, kept speaking
 * the old ABI after an ABI bump in a checkout's incremental build). */
#include "swiftlet_abi.h"

void swiftlet_abi_anchor(void) {}
