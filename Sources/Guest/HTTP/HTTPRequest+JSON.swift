// Request bodies as JSON for handlers: 413 when the body is over the JSON size limit (checked
// before parsing), 400 with the byte offset when it is not JSON, 422 when it is JSON of the
// wrong shape for the type asked for. The Content-Type is not checked: clients often omit it.

extension HTTPRequest {
    /// The body parsed as one JSON text.
    public func json(limits: JSONLimits = JSONLimits()) throws(HTTPError) -> JSONValue {
        guard body.count <= limits.maxInputSize else {
            throw HTTPError(.contentTooLarge, "JSON body of \(body.count) bytes is over the limit of \(limits.maxInputSize)")
        }
        do throws(JSONError) {
            return try JSONValue.parse(body, limits: limits)
        } catch {
            throw HTTPError(.badRequest, "invalid JSON at \(error)")
        }
    }

    /// The body decoded as a `T` (see JSONDecodable).
    public func json<T: JSONDecodable>(as type: T.Type, limits: JSONLimits = JSONLimits()) throws(HTTPError) -> T {
        let value = try json(limits: limits)
        do throws(JSONError) {
            return try T(json: value)
        } catch {
            throw HTTPError(.unprocessableContent, "unexpected JSON: \(error)")
        }
    }
}
