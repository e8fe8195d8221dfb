import Testing

@Test func placeholderGuestTests() { #expect(Bool(true)) }
