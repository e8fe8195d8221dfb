void swiftlet_abi_anchor(void) {}
