//! A RUD server on UDP with the built-in services (echo, discard, sink into ./received) until
//! Ctrl-C. `cargo run -p rud --example server -- [ADDR]`; it prints the client's command line.
use rud::crypto::x448::X448Secret;
use rud::handshake::{Entropy, OsEntropy};
use rud::service::ServiceHost;
use rud::udp::{ServerConfig, UdpConfig, UdpEndpoint};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let arg = std::env::args().nth(1);
    let addr = arg.as_deref().unwrap_or("127.0.0.1:21077").parse()?;
    std::fs::create_dir_all("received")?;
    let services = ServiceHost::with_builtins(Some("received".into()));
    // A key made for this run (rud keygen and rud::crypto::keyfile read one from a file).
    let key = X448Secret::generate(|b| OsEntropy.fill(b));
    let mut server = ServerConfig::new(key, services);
    server.keys_are_new = true; // so 0-RTT data is accepted from the start
    let endpoint = UdpEndpoint::bind(&[addr], UdpConfig::server(server)).await?;
    let public = endpoint.public_key().ok_or("no key")?;
    println!("listening on udp://{}", endpoint.local_addr());
    println!(
        "cargo run -p rud --example client -- {} {}",
        hex::encode(public.as_bytes()),
        endpoint.local_addr()
    );
    tokio::signal::ctrl_c().await?;
    let m = endpoint.metrics().await?;
    endpoint.shutdown().await?; // closes every connection first
    println!("{} connections served", m.accepted);
    Ok(())
}
