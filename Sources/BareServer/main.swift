import BareRoute

// The bare app scripts/bench measures the server against: Hummingbird and the one route (BareRoute).
//
// usage: BareServer PORT

try await BareRoute.run(port: BareRoute.port)
