//! A page of a listing and where the next one starts (the `Link: <…>; rel="next"` header).

use reqwest::Url;

/// One page of a listing.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    /// The items, in the listing's order.
    pub items: Vec<T>,
    /// Where the next page starts (a cursor; for events, the seq to list after), `None` on
    /// the last page.
    pub next: Option<String>,
}

/// The value of `param` in the `rel="next"` target of a `Link` header, relative to `base`.
pub(crate) fn next_of(link: Option<&str>, base: &Url, param: &str) -> Option<String> {
    let link = link?;
    link.split(',').find_map(|entry| {
        let (target, params) = entry.trim().split_once(';')?;
        if !params.split(';').any(|p| p.trim() == "rel=\"next\"") {
            return None;
        }
        let target = target.trim().strip_prefix('<')?.strip_suffix('>')?;
        let url = base.join(target).ok()?;
        url.query_pairs()
            .find(|(name, _)| name == param)
            .map(|(_, value)| value.into_owned())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_next_cursor_is_read_from_the_link_header_decoded() {
        let base = Url::parse("http://localhost:3000/").unwrap();
        let link = "</streams?status=active&limit=2&cursor=a%2Bb%3D>; rel=\"next\"";

        assert_eq!(
            next_of(Some(link), &base, "cursor").as_deref(),
            Some("a+b=")
        );
        assert_eq!(next_of(Some(link), &base, "afterSeq"), None);
        assert_eq!(next_of(None, &base, "cursor"), None);
        assert_eq!(
            next_of(Some("</x?cursor=1>; rel=\"prev\""), &base, "cursor"),
            None
        );
    }
}
