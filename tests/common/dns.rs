//! DNS servers on 127.0.0.1 for the reverse DNS and DNS health tests: hickory-server
//! answering from an in-memory zone, and a socket that never answers.

use std::net::SocketAddr;
use std::str::FromStr;
use std::sync::Arc;

use hickory_server::Server;
use hickory_server::proto::rr::rdata::{A, AAAA, CNAME, MX, NS, PTR, SOA, TXT};
use hickory_server::proto::rr::{LowerName, Name, RData, Record};
use hickory_server::store::in_memory::InMemoryZoneHandler;
use hickory_server::zone_handler::{AxfrPolicy, Catalog, ZoneType};

/// A running server; it stops when dropped.
pub struct DnsServer {
    pub addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for DnsServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Serves `records` authoritatively for the whole tree, over UDP and TCP: `(name, type,
/// value)` with type `PTR`, `A`, `AAAA`, `CNAME`, `NS`, `MX` ("10 mx.example.com") or `TXT`
/// (split into 255-byte strings, as a zone file splits a long record). Every other name is
/// NXDOMAIN; a name that has records of other types only answers NODATA.
pub async fn serve(records: &[(&str, &str, &str)]) -> DnsServer {
    let root = Name::root();
    let mut zone = InMemoryZoneHandler::<hickory_server::net::runtime::TokioRuntimeProvider>::empty(
        root.clone(),
        ZoneType::Primary,
        AxfrPolicy::Deny,
    );
    let soa = SOA::new(
        Name::from_str("ns.test.").unwrap(),
        Name::from_str("hostmaster.test.").unwrap(),
        1,
        3600,
        600,
        86_400,
        60,
    );
    zone.upsert_mut(Record::from_rdata(root.clone(), 60, RData::SOA(soa)), 1);
    // Names are absolute, with or without their final dot.
    let fqdn = |name: &str| Name::from_str(&format!("{}.", name.trim_end_matches('.'))).unwrap();
    for (name, kind, value) in records {
        let name = fqdn(name);
        let data = match *kind {
            "PTR" => RData::PTR(PTR(fqdn(value))),
            "A" => RData::A(A(value.parse().unwrap())),
            "AAAA" => RData::AAAA(AAAA(value.parse().unwrap())),
            "CNAME" => RData::CNAME(CNAME(fqdn(value))),
            "NS" => RData::NS(NS(fqdn(value))),
            "MX" => {
                let (preference, host) = value.split_once(' ').unwrap();
                RData::MX(MX::new(preference.parse().unwrap(), fqdn(host)))
            }
            "TXT" => RData::TXT(TXT::new(
                value
                    .as_bytes()
                    .chunks(255)
                    .map(|c| String::from_utf8(c.to_vec()).unwrap())
                    .collect(),
            )),
            other => panic!("unsupported record type {other}"),
        };
        // A second record of a type at a name adds to the set (upsert answers false then).
        zone.upsert_mut(Record::from_rdata(name, 60, data), 1);
    }
    let mut catalog = Catalog::new();
    catalog.upsert(LowerName::new(&root), vec![Arc::new(zone)]);
    let (udp, tcp, addr) = sockets().await;
    let mut server = Server::new(catalog);
    server.register_socket(udp);
    server.register_listener(tcp, std::time::Duration::from_secs(5), 4096);
    let task = tokio::spawn(async move {
        let _ = server.block_until_done().await;
    });
    DnsServer { addr, task }
}

/// A UDP socket (and a TCP listener on the same port) that read queries and never answer:
/// a resolver that hangs.
pub async fn silent() -> DnsServer {
    let (udp, tcp, addr) = sockets().await;
    let task = tokio::spawn(async move {
        let mut buf = [0u8; 1500];
        let mut held = Vec::new();
        loop {
            tokio::select! {
                _ = udp.recv_from(&mut buf) => {}
                Ok((conn, _)) = tcp.accept() => held.push(conn),
            }
        }
    });
    DnsServer { addr, task }
}

/// A UDP socket and a TCP listener on one free port of 127.0.0.1 (a port free for UDP may
/// be taken for TCP: try another).
async fn sockets() -> (tokio::net::UdpSocket, tokio::net::TcpListener, SocketAddr) {
    for _ in 0..50 {
        let udp = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = udp.local_addr().unwrap();
        if let Ok(tcp) = tokio::net::TcpListener::bind(addr).await {
            return (udp, tcp, addr);
        }
    }
    panic!("no port of 127.0.0.1 was free for both UDP and TCP");
}

/// The `in-addr.arpa` / `ip6.arpa` name of an address.
pub fn reverse_name(ip: std::net::IpAddr) -> String {
    Name::from(ip).to_ascii()
}
