import AppCore
import AppServer
import ArgumentParser
import BareRoute

// The bare app (BareRoute) linked with every module `app` links, none of their code run: the baseline
// for what the server itself adds to cold start and memory, beyond the size of what it links.
//
// usage: BareLinkedServer PORT

try await BareRoute.run(port: BareRoute.port)
