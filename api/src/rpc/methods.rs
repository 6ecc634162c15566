//! The method table: every method's name, category, arguments and help, and the function
//! that runs it. `help` is built from this table, so the help text and what a call accepts
//! never drift apart.

use serde_json::Value;

use super::args::{ArgSpec, ArgType, Args};
use super::error::RpcError;
use super::{blockchain, control, network, wait, RpcContext};

/// How a method runs: the context, its checked arguments.
pub type MethodFn = fn(&RpcContext, &Args) -> Result<Value, RpcError>;

/// One RPC method.
#[derive(Debug, Clone, Copy)]
pub struct Method {
    /// Its name.
    pub name: &'static str,
    /// Core's category (`help` groups by it); `hidden` methods are left out of the list, as
    /// Core hides its `waitfor*` test methods.
    pub category: &'static str,
    /// Its arguments, in position order.
    pub args: &'static [ArgSpec],
    /// What it does and returns.
    pub description: &'static str,
    /// The function that runs it.
    pub run: MethodFn,
}

impl Method {
    /// The one-line synopsis `help` lists: the name, required arguments, then optional ones
    /// in parentheses, string arguments quoted, as Core writes them.
    pub fn synopsis(&self) -> String {
        let mut line = self.name.to_string();
        let mut optional = Vec::new();
        for arg in self.args {
            let shown = match arg.kind {
                ArgType::Str | ArgType::StrHex => format!("\"{}\"", arg.name),
                ArgType::Num | ArgType::Bool => arg.name.to_string(),
            };
            if arg.required {
                line.push(' ');
                line.push_str(&shown);
            } else {
                optional.push(shown);
            }
        }
        if !optional.is_empty() {
            line.push_str(&format!(" ( {} )", optional.join(" ")));
        }
        line
    }

    /// The full help text (also the message of a call with the wrong number of arguments).
    pub fn help(&self) -> String {
        let mut text = format!("{}\n\n{}\n", self.synopsis(), self.description);
        if !self.args.is_empty() {
            text.push_str("\nArguments:\n");
            for (i, arg) in self.args.iter().enumerate() {
                let kind = match arg.kind {
                    ArgType::Num => "numeric",
                    ArgType::Str => "string",
                    ArgType::StrHex => "string, hex",
                    ArgType::Bool => "boolean",
                };
                let need = if arg.required { "required" } else { "optional" };
                text.push_str(&format!(
                    "{}. {} ({kind}, {need}) {}\n",
                    i + 1,
                    arg.name,
                    arg.help
                ));
            }
        }
        text
    }
}

const fn arg(name: &'static str, kind: ArgType, required: bool, help: &'static str) -> ArgSpec {
    ArgSpec {
        name,
        kind,
        required,
        help,
    }
}

/// Every method, grouped by category.
pub const METHODS: &[Method] = &[
    Method {
        name: "getbestblockhash",
        category: "blockchain",
        args: &[],
        description: "Returns the hash of the best (tip) block in the most-work fully-validated chain.",
        run: blockchain::getbestblockhash,
    },
    Method {
        name: "getblockchaininfo",
        category: "blockchain",
        args: &[],
        description: "Returns an object containing various state info regarding blockchain processing.\n\
                      headway keeps headers only: \"blocks\" and \"headers\" are both the height of the best validated header chain.",
        run: blockchain::getblockchaininfo,
    },
    Method {
        name: "getblockcount",
        category: "blockchain",
        args: &[],
        description: "Returns the height of the most-work fully-validated chain.\nThe genesis block has height 0.",
        run: blockchain::getblockcount,
    },
    Method {
        name: "getblockhash",
        category: "blockchain",
        args: &[arg("height", ArgType::Num, true, "The height index")],
        description: "Returns hash of block in best-block-chain at height provided.",
        run: blockchain::getblockhash,
    },
    Method {
        name: "getblockheader",
        category: "blockchain",
        args: &[
            arg("blockhash", ArgType::StrHex, true, "The block hash"),
            arg(
                "verbose",
                ArgType::Bool,
                false,
                "true for a json object, false for the hex-encoded data (default: true)",
            ),
        ],
        description: "If verbose is false, returns a string that is serialized, hex-encoded data for blockheader 'hash'.\n\
                      If verbose is true, returns an Object with information about blockheader <hash>.",
        run: blockchain::getblockheader,
    },
    Method {
        name: "getchaintips",
        category: "blockchain",
        args: &[],
        description: "Return information about all known tips in the block tree, including the main chain as well as orphaned branches.",
        run: blockchain::getchaintips,
    },
    Method {
        name: "getdifficulty",
        category: "blockchain",
        args: &[],
        description: "Returns the proof-of-work difficulty as a multiple of the minimum difficulty.",
        run: blockchain::getdifficulty,
    },
    Method {
        name: "help",
        category: "control",
        args: &[arg("command", ArgType::Str, false, "The command to get help on (default: all commands)")],
        description: "List all commands, or get help for a specified command.",
        run: control::help,
    },
    Method {
        name: "stop",
        category: "control",
        args: &[],
        description: "Request a graceful shutdown of headway.",
        run: control::stop,
    },
    Method {
        name: "uptime",
        category: "control",
        args: &[],
        description: "Returns the total uptime of the server, in seconds.",
        run: control::uptime,
    },
    Method {
        name: "addnode",
        category: "network",
        args: &[
            arg("node", ArgType::Str, true, "The address of the peer to connect to (IP:port, or IP with the network's port)"),
            arg("command", ArgType::Str, true, "'add' to add a node to the list, 'remove' to remove a node from the list, 'onetry' to try a connection to the node once"),
        ],
        description: "Attempts to add or remove a node from the addnode list.\nOr try a connection to a node once.",
        run: network::addnode,
    },
    Method {
        name: "disconnectnode",
        category: "network",
        args: &[
            arg("address", ArgType::Str, false, "The IP address/port of the node"),
            arg("nodeid", ArgType::Num, false, "The node ID (see getpeerinfo for node IDs)"),
        ],
        description: "Immediately disconnects from the specified peer node.\n\nStrictly one out of 'address' and 'nodeid' can be provided to identify the node.",
        run: network::disconnectnode,
    },
    Method {
        name: "getconnectioncount",
        category: "network",
        args: &[],
        description: "Returns the number of connections to other nodes.",
        run: network::getconnectioncount,
    },
    Method {
        name: "getnetworkinfo",
        category: "network",
        args: &[],
        description: "Returns an object containing various state info regarding P2P networking.",
        run: network::getnetworkinfo,
    },
    Method {
        name: "getpeerinfo",
        category: "network",
        args: &[],
        description: "Returns data about each connected network peer as a json array of objects.",
        run: network::getpeerinfo,
    },
    Method {
        name: "waitforblock",
        category: "hidden",
        args: &[
            arg("blockhash", ArgType::StrHex, true, "Block hash to wait for."),
            arg("timeout", ArgType::Num, false, "Time in milliseconds to wait for a response. 0 indicates no timeout. (default: 0)"),
        ],
        description: "Waits for a specific new block and returns useful info about it.\n\nReturns the current block on timeout or exit.",
        run: wait::waitforblock,
    },
    Method {
        name: "waitforblockheight",
        category: "hidden",
        args: &[
            arg("height", ArgType::Num, true, "Block height to wait for."),
            arg("timeout", ArgType::Num, false, "Time in milliseconds to wait for a response. 0 indicates no timeout. (default: 0)"),
        ],
        description: "Waits for (at least) block height and returns the height and hash\nof the current tip.\n\nReturns the current block on timeout or exit.",
        run: wait::waitforblockheight,
    },
    Method {
        name: "waitfornewblock",
        category: "hidden",
        args: &[
            arg("timeout", ArgType::Num, false, "Time in milliseconds to wait for a response. 0 indicates no timeout. (default: 0)"),
            arg("current_tip", ArgType::StrHex, false, "Method waits for the chain tip to differ from this."),
        ],
        description: "Waits for any new block and returns useful info about it.\n\nReturns the current block on timeout or exit.",
        run: wait::waitfornewblock,
    },
];

/// The method named `name`.
pub fn find(name: &str) -> Option<&'static Method> {
    METHODS.iter().find(|m| m.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn synopses_follow_cores_shape_and_names_are_unique() {
        let header = find("getblockheader").unwrap();
        assert_eq!(
            header.synopsis(),
            "getblockheader \"blockhash\" ( verbose )"
        );
        assert_eq!(
            find("getblockhash").unwrap().synopsis(),
            "getblockhash height"
        );
        let mut names: Vec<_> = METHODS.iter().map(|m| m.name).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), METHODS.len());
        assert!(find("getblock").is_none());
    }
}
