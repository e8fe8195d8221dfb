// JSONDecodable / JSONEncodable: an application struct (nested, with an optional and an
// array) read and written by hand-written conformances, the error paths a client would see,
// and the standard types' range checks.
import Testing
@testable import Swiftlet

private struct Address: JSONCodable, Equatable {
    var city: String
    var zip: String?

    init(city: String, zip: String?) { self.city = city; self.zip = zip }

    init(json: JSONValue) throws(JSONError) {
        city = try json.require("city")
        zip = try json.optional("zip")
    }

    var json: JSONValue { ["city": city.json, "zip": zip.json] }
}

private struct User: JSONCodable, Equatable {
    var name: String
    var age: Int
    var score: Double
    var admin: Bool
    var tags: [String]
    var address: Address

    init(name: String, age: Int, score: Double, admin: Bool, tags: [String], address: Address) {
        self.name = name; self.age = age; self.score = score; self.admin = admin; self.tags = tags; self.address = address
    }

    init(json: JSONValue) throws(JSONError) {
        name = try json.require("name")
        age = try json.require("age", as: Int.self)
        score = try json.require("score")
        admin = try json.optional("admin") ?? false
        tags = try json.require("tags")
        address = try json.require("address")
    }

    var json: JSONValue {
        ["name": name.json, "age": age.json, "score": score.json, "admin": admin.json, "tags": tags.json, "address": address.json]
    }
}

@Suite struct JSONCodingTests {
    static func decodeError<T: JSONDecodable>(_ text: String, as type: T.Type) throws -> JSONError? {
        let value = try JSONValue.parse(text)
        do throws(JSONError) {
            _ = try T(json: value)
            return nil
        } catch {
            return error
        }
    }

    @Test func aStructRoundTrips() throws {
        let text = #"{"name":"Ada","age":36,"score":9.5,"tags":["x","y"],"address":{"city":"London"}}"#
        let user = try JSONValue.parse(text).decode(as: User.self)
        #expect(user == User(name: "Ada", age: 36, score: 9.5, admin: false, tags: ["x", "y"],
                             address: Address(city: "London", zip: nil)))
        #expect(user.json.text == #"{"name":"Ada","age":36,"score":9.5,"admin":false,"tags":["x","y"],"address":{"city":"London","zip":null}}"#)
        #expect(try User(json: JSONValue.parse(user.json.text)) == user)
    }

    @Test(arguments: [
        (#"{"age":1,"score":1,"tags":[],"address":{"city":"c"}}"#, JSONError.Kind.missingKey, "name: missing member"),
        (#"{"name":"n","age":"36","score":1,"tags":[],"address":{"city":"c"}}"#, .wrongType, "age: expected an integer, found a string"),
        (#"{"name":"n","age":1.5,"score":1,"tags":[],"address":{"city":"c"}}"#, .wrongType, "age: expected an integer, found 1.5"),
        (#"{"name":"n","age":99999999999999999999,"score":1,"tags":[],"address":{"city":"c"}}"#, .wrongType, "age: 99999999999999999999 is out of range"),
        (#"{"name":"n","age":1,"score":1e999,"tags":[],"address":{"city":"c"}}"#, .wrongType, "score: 1e999 is beyond the range of Double"),
        (#"{"name":"n","age":1,"score":1,"tags":["a",2],"address":{"city":"c"}}"#, .wrongType, "tags[1]: expected a string, found a number"),
        (#"{"name":"n","age":1,"score":1,"tags":[],"address":{"city":null}}"#, .wrongType, "address.city: expected a string, found null"),
        (#"{"name":"n","age":1,"score":1,"tags":[],"address":{"city":"c","zip":7}}"#, .wrongType, "address.zip: expected a string, found a number"),
        (#"{"name":"n","age":1,"score":1,"tags":[],"address":[]}"#, .wrongType, "address: expected an object, found an array"),
        (#"[]"#, .wrongType, "expected an object, found an array"),
    ])
    func decodingErrorsNameThePath(_ text: String, _ kind: JSONError.Kind, _ description: String) throws {
        let error = try Self.decodeError(text, as: User.self)
        #expect(error?.kind == kind)
        #expect(error?.offset == nil)
        #expect(error?.description == description)
    }

    @Test func optionalMembersAcceptAbsenceAndNull() throws {
        #expect(try JSONValue.parse(#"{"city":"c","zip":null}"#).decode(as: Address.self).zip == nil)
        #expect(try JSONValue.parse(#"{"city":"c","zip":"Z"}"#).decode(as: Address.self).zip == "Z")
    }

    @Test func standardTypes() throws {
        #expect(try JSONValue.parse("[1,2,3]").decode(as: [Int].self) == [1, 2, 3])
        #expect(try JSONValue.parse("[[true],[]]").decode(as: [[Bool]].self) == [[true], []])
        #expect(try JSONValue.parse("-9223372036854775808").decode(as: Int64.self) == Int64.min)
        #expect(try JSONValue.parse("null").decode(as: Int?.self) == nil)
        #expect(Double.infinity.json == .null)
        #expect(0.1.json.text == "0.1")
        #expect((-0.0).json.text == "-0.0")
        #expect(1e300.json.text == "1e+300")
        #expect([1, 2].json.text == "[1,2]")
        #expect(Optional<String>.none.json.text == "null")
    }
}
