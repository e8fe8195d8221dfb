import Testing

@Test func placeholderTenderTests() { #expect(Bool(true)) }
