// An echo server the way Node's own documentation writes one: socket.pipe(socket),
// which does apply backpressure (it stops reading while the write side is full).
// Not part of the default server set; `scripts/bench --servers node-pipe,...`.
//
// Usage: node pipe.js HOST TCP_PORT UDP_PORT   (a port of '-': no such server)
'use strict';
const net = require('net');
const dgram = require('dgram');

const [host, tcpPort, udpPort] = [process.argv[2], process.argv[3], process.argv[4]];

const server = net.createServer((socket) => {
  socket.pipe(socket);
  socket.on('error', () => {}); // the one addition: a client's reset must not end the process
});
if (tcpPort !== '-') server.listen(Number(tcpPort), host);

const udp = dgram.createSocket(host.includes(':') ? 'udp6' : 'udp4');
udp.on('message', (msg, rinfo) => {
  udp.send(msg, rinfo.port, rinfo.address);
});
if (udpPort !== '-') udp.bind(Number(udpPort), host);

process.on('SIGTERM', () => process.exit(0));
