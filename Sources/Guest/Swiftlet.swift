// Swiftlet guest library OS.
