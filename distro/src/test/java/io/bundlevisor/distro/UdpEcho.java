package io.bundlevisor.distro;

import java.net.DatagramPacket;
import java.net.DatagramSocket;
import java.net.InetAddress;
import java.net.InetSocketAddress;

/**
 * A UDP echo server for the network tests, run inside their namespace ({@code ip netns exec NS java -cp
 * target/test-classes io.bundlevisor.distro.UdpEcho ADDRESS PORT}): each datagram goes back to its sender. The
 * kernel drops a datagram whose checksum is wrong before it gets here, so an echo proves the sender's checksum.
 */
public final class UdpEcho {

    private UdpEcho() {
    }

    public static void main(String[] args) throws Exception {
        try (DatagramSocket socket = new DatagramSocket(new InetSocketAddress(InetAddress.getByName(args[0]),
                Integer.parseInt(args[1])))) {
            System.out.println("udp-echo listening on " + socket.getLocalSocketAddress());
            System.out.flush();
            byte[] buffer = new byte[65536];
            while (true) {
                DatagramPacket p = new DatagramPacket(buffer, buffer.length);
                socket.receive(p);
                System.out.println("udp-echo " + p.getLength() + " bytes from " + p.getSocketAddress());
                System.out.flush();
                socket.send(new DatagramPacket(buffer, p.getLength(), p.getSocketAddress()));
            }
        }
    }
}
