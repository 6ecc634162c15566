//! BIP324's own test vectors (`bip-0324/packet_encoding_test_vectors.csv`), through the
//! `bip324` crate's public key derivation, which our handshake runs on: for every vector,
//! our secret key and both ElligatorSwift encodings give the BIP's session id, on mainnet's
//! magic as the vectors use. The packet-cipher columns need ciphers keyed directly, which
//! the crate keeps private; its own tests check those vectors, and
//! `transport::v2`'s unit tests check our framing around its ciphers.

use bip324::SessionKeyMaterial;
use headway_core::bitcoin::hex::FromHex;
use headway_core::bitcoin::secp256k1::ellswift::{ElligatorSwift, ElligatorSwiftParty};
use headway_core::bitcoin::secp256k1::SecretKey;

/// (in_idx, in_priv_ours, in_ellswift_ours, in_ellswift_theirs, in_initiating,
/// mid_session_id), copied from the BIP's CSV.
const VECTORS: [(u32, &str, &str, &str, bool, &str); 7] = [
    (
        1,
        "e79f04ad4c684525ff3e3cf7c19f4cdb11193d387d7f3fe82a948a0c3165f5fe",
        "4eff53ea1945e57b5d170565e760d771e5d496101c1005c302fd687af80d8b858c5a681c474fc4c0546ee464a1b95899ecb9d4f50c2c0854fe029fc054ae6777",
        "824a1da0530fa695b95b375fee2a56ec96ce375ddd2fcf8367cc8ec1c0b751a3304bbef5dc96543acaac50c24be8cb39906ef8521727de0c6e96c2060a026bd7",
        true,
        "4418cf03c0d7cd5849022a7976014f234b4d4f5c18a6d3a6540c11e01a7180c1",
    ),
    (
        999,
        "53a915e6d8f6c5bbb93e537081085e9e642dc525649acf05be74e3a825e20921",
        "715d7b8357dd4d15a07b3f8c6764ebd9927140f75047fb50478c33ea8889d710511cdf39aa0fd6b1e94ea660d87f9d97bffc548646f9e2aaebc1468fe563fb97",
        "cea7abc3112397b894bd3e89a615248af473f897bbdd30997c20e53e7ce499a295e55c4c5655cd3d21191e76c8af0aa1bbea10fd1b540a42d0fbed388dc59877",
        false,
        "9619dd4731d6160617da82da407c80732455a67b59ad7be07f86252aadb79440",
    ),
    (
        0,
        "dcf45714d450a32cdd05997b75acd34e8786969dfcff34295c287a13ba3225f0",
        "feaa1ef8bb05296a8d5153855357868835fc5bc59d96dcbccb108e0e2dd671676c5683ad566ee4290ede5236ba6259ab47668e25853d64c0678641d27d5d0eed",
        "c8067851ccc5df7331e9f137e66ebce1220306c4644266ff3e38436a1036ea36582dac8ce2c30de59a890f81611f866f659c1334bdd82cce1ea20ab0128b7f56",
        true,
        "a306c86bea9e6befa7f72bd5cde761d5f4f86cfbc8749c1e844100c540a6cefc",
    ),
    (
        255,
        "f360308206fb441c7713b1a24ba4096a2fa0d5401411198b7008f82ae85257fe",
        "3d4aa6a71a8a734e014b4d9e6b62989f022c1e2238ae476b11465cb86fe8cf7243db6f9472e188590705cf9b35121e06e57cb106a6043ab147b7c73871da8222",
        "f0ebc3c872339622fbf2ab1b8aa2117c4d752b64eac9203962c03a47497a89c0dd298348e5bb63d3433c48ed6da6bc2e2dbe78f7b91247dd29f1f51a858d464a",
        false,
        "b1d1e3ae7d9337f31a410986fe6e377726eb0f2334f24d66b38ec4d29529d1a5",
    ),
    (
        512,
        "073f53403256e2b699e32cd4cebadfab63d9076a7cd541d9656e27b1baff66bb",
        "5c9c90c4e216f8a4c2642535d1f699364f9054ca01bca0239fa65bcaf0ec0278e5a36bc85eae96850feff889b66c9106c170fe655f973f533ee3557bd3cb6e64",
        "e9221c9698cb69b63c5a4e224132389d346fd2f0f3262218301be51687b8de846c652ea8aa7425a5c08a7bd52078168d28ecf42196e33e155e215553ce6aee83",
        true,
        "afde967955012c17bfa7bea218bff3aa1aef10a49139c66080e9e7c567706409",
    ),
    (
        769,
        "810159fc6708a85aa9d6c8e7c4f8c587056594910174c0309b2c323055efaa6a",
        "2a875927b98fd441d8c469f6902c167eb440e52d3331a4b7406f21cad216e80917401ddb8795a9706fe42a7ddfca70fee7240b1e918b9f32414b8b26e611d571",
        "758bcf0381c0a1c35a174503a43b08f79eb407aa61eb9e6579a62400d4a13f8d3cef884728c34cb79c7f088b4d4e735ce796361e71bd8b66d637f56326b49af3",
        false,
        "2ad4f52fd2a9cd078c0664dc4ba33904095d4affb5227fbc779662ca6140376c",
    ),
    (
        1024,
        "f7c11ca3b55137fa6124c49b25dea0287815b887760e1b986497e976444eb5bb",
        "5a2a0ce42feb17e70a96db1e55bc380e26a40a589dfc453d6c2e82bbc4c2b161716a05df9039ccffb6df45183480119deb69299e44d48e38de746ad084156edd",
        "2c402d53332d914e4f5501c8db682bec6738ed53c7410655d9346db99bae37642beb6a1d48394502941965ea7140e1172ce591923235640f964c0d597caae304",
        true,
        "462c77437e78cb8620e0572e5a401d151e6ae45aed57d7638d924f569eccd73e",
    ),
];

const MAINNET_MAGIC: [u8; 4] = [0xf9, 0xbe, 0xb4, 0xd9];

fn ellswift(hex: &str) -> ElligatorSwift {
    let bytes = Vec::<u8>::from_hex(hex).expect("vector hex");
    ElligatorSwift::from_array(bytes.try_into().expect("64 bytes"))
}

#[test]
fn every_vector_gives_the_bips_session_id() {
    for (idx, secret, ours, theirs, initiating, session_id) in VECTORS {
        let secret =
            SecretKey::from_slice(&Vec::<u8>::from_hex(secret).expect("hex")).expect("vector key");
        let (a, b, party) = if initiating {
            (ellswift(ours), ellswift(theirs), ElligatorSwiftParty::A)
        } else {
            (ellswift(theirs), ellswift(ours), ElligatorSwiftParty::B)
        };
        let keys =
            SessionKeyMaterial::from_ecdh(a, b, secret, party, MAINNET_MAGIC).expect("derivation");
        let want = Vec::<u8>::from_hex(session_id).expect("hex");
        assert_eq!(keys.session_id.to_vec(), want, "vector {idx}");
        // The magic salts the derivation: the same keys on another network give another id.
        let elsewhere =
            SessionKeyMaterial::from_ecdh(a, b, secret, party, [0xfa, 0xbf, 0xb5, 0xda])
                .expect("derivation");
        assert_ne!(elsewhere.session_id.to_vec(), want, "vector {idx}");
    }
}
