# The Windows-protocol parsers' name tables and constants (win_names.h, which setup.py
# generates from wirescore/win_names.py and wirescore/data/win/): each list is written
# once there, beside its names. The parsers take their constants from here; the test
# modules (msg_smb, msg_ntlmssp, msg_dcerpc) give the tables back to Python, where
# tests/test_win_names.py compares them row by row with wirescore.win_names.

cdef extern from "win_names.h":
    ctypedef struct ws_code:
        unsigned long value
        const char* name
    ctypedef struct ws_iface:
        unsigned char uuid[16]      # text order
        const char* name
        int first                   # its procedures: wsw_procs[first:first + count]
        int count
    ctypedef struct ws_proc:
        unsigned int opnum
        const char* name
    ctypedef struct ws_oid:
        unsigned char der[16]       # OBJECT IDENTIFIER contents octets, len of them used
        int len
        const char* name
    ctypedef struct ws_syntax:
        unsigned char uuid[16]
        unsigned int version
        const char* name

    enum:
        # SMB2 commands ([MS-SMB2] 2.2.1.2)
        SMB2_NEGOTIATE "WSW_SMB2_NEGOTIATE"
        SMB2_SESSION_SETUP "WSW_SMB2_SESSION_SETUP"
        SMB2_LOGOFF "WSW_SMB2_LOGOFF"
        SMB2_TREE_CONNECT "WSW_SMB2_TREE_CONNECT"
        SMB2_TREE_DISCONNECT "WSW_SMB2_TREE_DISCONNECT"
        SMB2_CREATE "WSW_SMB2_CREATE"
        SMB2_CLOSE "WSW_SMB2_CLOSE"
        SMB2_FLUSH "WSW_SMB2_FLUSH"
        SMB2_READ "WSW_SMB2_READ"
        SMB2_WRITE "WSW_SMB2_WRITE"
        SMB2_LOCK "WSW_SMB2_LOCK"
        SMB2_IOCTL "WSW_SMB2_IOCTL"
        SMB2_CANCEL "WSW_SMB2_CANCEL"
        SMB2_ECHO "WSW_SMB2_ECHO"
        SMB2_QUERY_DIRECTORY "WSW_SMB2_QUERY_DIRECTORY"
        SMB2_CHANGE_NOTIFY "WSW_SMB2_CHANGE_NOTIFY"
        SMB2_QUERY_INFO "WSW_SMB2_QUERY_INFO"
        SMB2_SET_INFO "WSW_SMB2_SET_INFO"
        SMB2_OPLOCK_BREAK "WSW_SMB2_OPLOCK_BREAK"
        # SMB1 commands the SMB1 parser reads ([MS-CIFS] 2.2.2.1)
        SMB1_NEGOTIATE "WSW_SMB1_NEGOTIATE"
        SMB1_SESSION_SETUP_ANDX "WSW_SMB1_SESSION_SETUP_ANDX"
        # SMB 3.1.1 negotiate contexts ([MS-SMB2] 2.2.3.1)
        SMB2_CTX_PREAUTH "WSW_SMB2_CTX_PREAUTH"
        SMB2_CTX_ENCRYPTION "WSW_SMB2_CTX_ENCRYPTION"
        SMB2_CTX_COMPRESSION "WSW_SMB2_CTX_COMPRESSION"
        SMB2_CTX_NETNAME "WSW_SMB2_CTX_NETNAME"
        SMB2_CTX_SIGNING "WSW_SMB2_CTX_SIGNING"
        # compression algorithms ([MS-SMB2] 2.2.3.1.3)
        SMB2_COMP_NONE "WSW_SMB2_COMP_NONE"
        SMB2_COMP_LZ4 "WSW_SMB2_COMP_LZ4"
        # NBSS packet types (RFC 1002 4.3.1)
        NBSS_MESSAGE "WSW_NBSS_MESSAGE"
        NBSS_REQUEST "WSW_NBSS_REQUEST"
        NBSS_KEEPALIVE "WSW_NBSS_KEEPALIVE"
        # NTLMSSP message types ([MS-NLMP] 2.2.1)
        NTLM_NEGOTIATE "WSW_NTLM_NEGOTIATE"
        NTLM_CHALLENGE "WSW_NTLM_CHALLENGE"
        NTLM_AUTHENTICATE "WSW_NTLM_AUTHENTICATE"
        # GSS mechanisms: rows of wsw_gss_mechs
        GSS_MECH_KRB5 "WSW_GSS_MECH_KRB5"
        GSS_MECH_MSKRB5 "WSW_GSS_MECH_MSKRB5"
        GSS_MECH_KRB5_U2U "WSW_GSS_MECH_KRB5_U2U"
        GSS_MECH_NTLMSSP "WSW_GSS_MECH_NTLMSSP"
        GSS_MECH_NEGOEX "WSW_GSS_MECH_NEGOEX"
        GSS_MECH_SPNEGO "WSW_GSS_MECH_SPNEGO"
        N_GSS_MECHS "WSW_N_GSS_MECHS"
        # DCE-RPC packet types (C706 12.6.4, [MS-RPCE] 2.2.2.1)
        DCE_REQUEST "WSW_DCE_REQUEST"
        DCE_RESPONSE "WSW_DCE_RESPONSE"
        DCE_FAULT "WSW_DCE_FAULT"
        DCE_BIND "WSW_DCE_BIND"
        DCE_BIND_ACK "WSW_DCE_BIND_ACK"
        DCE_BIND_NAK "WSW_DCE_BIND_NAK"
        DCE_ALTER_CONTEXT "WSW_DCE_ALTER_CONTEXT"
        DCE_ALTER_CONTEXT_RESP "WSW_DCE_ALTER_CONTEXT_RESP"
        DCE_AUTH3 "WSW_DCE_AUTH3"
        DCE_SHUTDOWN "WSW_DCE_SHUTDOWN"
        DCE_CO_CANCEL "WSW_DCE_CO_CANCEL"
        DCE_ORPHANED "WSW_DCE_ORPHANED"
        # transfer syntaxes: rows of wsw_syntaxes
        DCE_SYNTAX_NDR "WSW_DCE_SYNTAX_NDR"
        DCE_SYNTAX_NDR64 "WSW_DCE_SYNTAX_NDR64"
        DCE_SYNTAX_BTFN "WSW_DCE_SYNTAX_BTFN"
        N_SYNTAXES "WSW_N_SYNTAXES"
        # the FSCTL whose payload is a named pipe's DCE-RPC PDU ([MS-FSCC] 2.3.49)
        FSCTL_PIPE_TRANSCEIVE "WSW_FSCTL_PIPE_TRANSCEIVE"
        # table sizes
        N_SMB2_COMMANDS "WSW_N_SMB2_COMMANDS"
        N_SMB1_COMMANDS "WSW_N_SMB1_COMMANDS"
        N_SMB2_DIALECTS "WSW_N_SMB2_DIALECTS"
        N_SMB2_NEG_CONTEXTS "WSW_N_SMB2_NEG_CONTEXTS"
        N_SMB2_COMPRESSION "WSW_N_SMB2_COMPRESSION"
        N_SMB2_CIPHERS "WSW_N_SMB2_CIPHERS"
        N_SMB2_SIGNING "WSW_N_SMB2_SIGNING"
        N_SMB2_HASHES "WSW_N_SMB2_HASHES"
        N_SMB2_SHARE_TYPES "WSW_N_SMB2_SHARE_TYPES"
        N_SMB2_DISPOSITIONS "WSW_N_SMB2_DISPOSITIONS"
        N_SMB2_CREATE_ACTIONS "WSW_N_SMB2_CREATE_ACTIONS"
        N_NBSS_TYPES "WSW_N_NBSS_TYPES"
        N_NTLMSSP_TYPES "WSW_N_NTLMSSP_TYPES"
        N_DCERPC_PTYPES "WSW_N_DCERPC_PTYPES"
        N_DCERPC_BIND_RESULTS "WSW_N_DCERPC_BIND_RESULTS"
        N_DCERPC_BIND_REASONS "WSW_N_DCERPC_BIND_REASONS"
        N_DCERPC_AUTH_TYPES "WSW_N_DCERPC_AUTH_TYPES"
        N_NT_STATUS "WSW_N_NT_STATUS"
        N_FSCTL "WSW_N_FSCTL"
        N_IFACES "WSW_N_IFACES"
        N_PROCS "WSW_N_PROCS"

    const ws_code wsw_smb2_commands[]
    const ws_code wsw_smb1_commands[]
    const ws_code wsw_smb2_dialects[]
    const ws_code wsw_smb2_neg_contexts[]
    const ws_code wsw_smb2_compression[]
    const ws_code wsw_smb2_ciphers[]
    const ws_code wsw_smb2_signing[]
    const ws_code wsw_smb2_hashes[]
    const ws_code wsw_smb2_share_types[]
    const ws_code wsw_smb2_dispositions[]
    const ws_code wsw_smb2_create_actions[]
    const ws_code wsw_nbss_types[]
    const ws_code wsw_ntlmssp_types[]
    const ws_code wsw_dcerpc_ptypes[]
    const ws_code wsw_dcerpc_bind_results[]
    const ws_code wsw_dcerpc_bind_reasons[]
    const ws_code wsw_dcerpc_auth_types[]
    const ws_code wsw_nt_status[]
    const ws_code wsw_fsctl[]
    const ws_iface wsw_ifaces[]
    const ws_proc wsw_procs[]
    const ws_oid wsw_gss_mechs[]
    const ws_syntax wsw_syntaxes[]

    const char* wsw_code_name(const ws_code* t, int n, unsigned long value) noexcept nogil
    int wsw_iface_row(const unsigned char* uuid) noexcept nogil
    const char* wsw_procedure(int iface, unsigned int opnum) noexcept nogil
