//! The module's exports: buffers in its memory and the check over them.
//! The page is the only caller; it passes back only addresses and lengths
//! this module gave it.

use std::cell::RefCell;

thread_local! {
    /// The last result, kept until the next check (the page copies it out).
    static RESULT: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// A buffer of `len` bytes for the page to write into.
#[no_mangle]
pub extern "C" fn strata_alloc(len: usize) -> *mut u8 {
    let mut buf = vec![0u8; len];
    let ptr = buf.as_mut_ptr();
    std::mem::forget(buf);
    ptr
}

/// Releases a buffer `strata_alloc` gave.
///
/// # Safety
/// `ptr` and `len` are those of one `strata_alloc` call, released once.
#[no_mangle]
pub unsafe extern "C" fn strata_free(ptr: *mut u8, len: usize) {
    if !ptr.is_null() {
        // SAFETY: the caller passes back a buffer strata_alloc made with
        // exactly this length and capacity.
        drop(unsafe { Vec::from_raw_parts(ptr, len, len) });
    }
}

/// Checks the receipt against the genesis; the address of the JSON result
/// (its length from `strata_result_len`).
///
/// # Safety
/// Both ranges lie in buffers `strata_alloc` gave.
#[no_mangle]
pub unsafe extern "C" fn strata_verify(
    genesis: *const u8,
    genesis_len: usize,
    receipt: *const u8,
    receipt_len: usize,
) -> *const u8 {
    // SAFETY: the caller passes ranges of live buffers it allocated here.
    let (genesis, receipt) = unsafe {
        (
            std::slice::from_raw_parts(genesis, genesis_len),
            std::slice::from_raw_parts(receipt, receipt_len),
        )
    };
    let verdict = crate::verify(genesis, receipt);
    let json = serde_json::to_vec(&verdict).unwrap_or_else(|_| {
        br#"{"verified":false,"error":"the verdict does not serialize"}"#.to_vec()
    });
    RESULT.with(|r| {
        *r.borrow_mut() = json;
        r.borrow().as_ptr()
    })
}

/// The length of the last result.
#[no_mangle]
pub extern "C" fn strata_result_len() -> usize {
    RESULT.with(|r| r.borrow().len())
}

/// No randomness source exists in the page's module; nothing the check
/// runs asks for one.
fn no_randomness(_: &mut [u8]) -> Result<(), getrandom::Error> {
    Err(getrandom::Error::UNSUPPORTED)
}
getrandom::register_custom_getrandom!(no_randomness);
