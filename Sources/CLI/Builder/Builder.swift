// Builds Swift applications into Swiftlet images.
