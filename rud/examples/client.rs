//! A RUD client: `cargo run -p rud --example client -- SERVER_KEY_HEX [ADDR]` (the server
//! example prints this line).
use rud::connection::StreamKind;
use rud::crypto::keyfile::parse_public_key;
use rud::udp::{ConnectOptions, UdpConfig, UdpEndpoint};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let key = parse_public_key(&args.next().ok_or("usage: client KEY_HEX [ADDR]")?)?;
    let server = args
        .next()
        .unwrap_or_else(|| "127.0.0.1:21077".into())
        .parse()?;
    let endpoint = UdpEndpoint::bind(&["0.0.0.0:0".parse()?], UdpConfig::client()).await?;
    // Immediate: the first request travels with the key exchange as 0-RTT data.
    let options = ConnectOptions::immediate(key, "echo", b"hello".to_vec());
    let conn = endpoint.connect(server, options).await?;
    let first = conn.first_response().await?;
    println!("echo: {}", String::from_utf8_lossy(&first));
    // Requests on a new transactional stream.
    let echo = conn.open(StreamKind::Transactional, "echo").await?;
    for i in 0..3 {
        let response = conn
            .request(echo, format!("request {i}").into_bytes())
            .await?;
        println!("echo: {}", String::from_utf8_lossy(&response));
    }
    // An asynchronous stream to the sink, acknowledged before closing.
    let sink = conn.open(StreamKind::Asynchronous, "sink").await?;
    conn.send(sink, vec![42u8; 100_000]).await?;
    conn.flush(sink).await?;
    let m = conn.metrics().await?;
    println!(
        "rtt {:?}, {} packets sent, {} lost",
        m.path.smoothed_rtt, m.path.packets_sent, m.path.datagrams_lost
    );
    conn.close().await?;
    endpoint.shutdown().await?;
    Ok(())
}
